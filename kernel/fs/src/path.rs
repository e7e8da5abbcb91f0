//! Path rules: every path is resolved to a normal absolute form
//! (`/a/b`, the root is `/`) before it reaches littlefs.
//!
//! - Relative paths are joined to the current directory.
//! - Empty components and `.` are dropped; `..` goes up, and an error above
//!   the root (instead of silently staying there).
//! - A name is at most [`NAME_MAX`] bytes, without control characters or any
//!   of `\ * ? " < > |`, and does not start with [`TEMP_PREFIX`] (kept for
//!   atomic writes).

use crate::FsError;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// Longest name in bytes (littlefs allows 255; the rest is kept for the
/// temporary name of an atomic write).
pub const NAME_MAX: usize = 200;
/// Longest normalised absolute path in bytes.
pub const PATH_MAX: usize = 1024;
/// Prefix of the temporary file an atomic write goes through.
pub const TEMP_PREFIX: &str = ".~";

/// Checks one name (a path component).
/// Files that only the kernel writes: commands may read and remove them,
/// never write, append to, or move them (or move something onto them).
pub const KERNEL_OWNED: &[&str] = &["/log/audit.log"];

/// Refuses a resolved path that names a kernel-owned file.
pub fn check_writable(p: &str) -> Result<(), FsError> {
    if KERNEL_OWNED.contains(&p) {
        return Err(FsError::KernelOwned(p.into()));
    }
    Ok(())
}

pub fn check_name(name: &str) -> Result<(), FsError> {
    if name.len() > NAME_MAX {
        return Err(FsError::NameTooLong(name.to_string()));
    }
    let bad = |c: char| c.is_control() || matches!(c, '\\' | '*' | '?' | '"' | '<' | '>' | '|');
    if name.is_empty() || name.chars().any(bad) || name.starts_with(TEMP_PREFIX) {
        return Err(FsError::InvalidName(name.to_string()));
    }
    Ok(())
}

/// Resolves `path` against the absolute directory `cwd` into a normal
/// absolute path.
pub fn resolve(cwd: &str, path: &str) -> Result<String, FsError> {
    let mut parts: Vec<&str> = Vec::new();
    let base = if path.starts_with('/') { "" } else { cwd };
    for part in base.split('/').chain(path.split('/')) {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop().ok_or(FsError::AboveRoot)?;
            }
            name => {
                check_name(name)?;
                parts.push(name);
            }
        }
    }
    let mut out = String::new();
    for p in &parts {
        out.push('/');
        out.push_str(p);
    }
    if out.is_empty() {
        out.push('/');
    }
    if out.len() > PATH_MAX {
        return Err(FsError::PathTooLong);
    }
    Ok(out)
}

/// Splits a normal absolute path into its parent and its name (`None` for
/// the root).
pub fn split(path: &str) -> Option<(&str, &str)> {
    let i = path.rfind('/')?;
    let name = &path[i + 1..];
    if name.is_empty() {
        return None;
    }
    Some((if i == 0 { "/" } else { &path[..i] }, name))
}

/// Joins a normal absolute directory and a name.
pub fn join(dir: &str, name: &str) -> String {
    let mut s = String::from(dir);
    if !s.ends_with('/') {
        s.push('/');
    }
    s.push_str(name);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_relative_and_absolute_paths() {
        assert_eq!(resolve("/", "a/b").unwrap(), "/a/b");
        assert_eq!(resolve("/x", "a//./b/").unwrap(), "/x/a/b");
        assert_eq!(resolve("/x/y", "../z").unwrap(), "/x/z");
        assert_eq!(resolve("/x/y", "/q").unwrap(), "/q");
        assert_eq!(resolve("/x", "..").unwrap(), "/");
        assert_eq!(resolve("/", "").unwrap(), "/");
        assert_eq!(resolve("/", "a/../b/./c").unwrap(), "/b/c");
    }

    #[test]
    fn refuses_dotdot_above_root() {
        assert_eq!(resolve("/", ".."), Err(FsError::AboveRoot));
        assert_eq!(resolve("/a", "../.."), Err(FsError::AboveRoot));
        assert_eq!(resolve("/a", "/../a"), Err(FsError::AboveRoot));
    }

    #[test]
    fn refuses_bad_names() {
        let long = "n".repeat(NAME_MAX + 1);
        assert!(matches!(resolve("/", &long), Err(FsError::NameTooLong(_))));
        assert!(resolve("/", &"n".repeat(NAME_MAX)).is_ok());
        for bad in [
            "a\tb",
            "a*",
            "what?",
            "x|y",
            "back\\slash",
            "bell\u{7}",
            ".~tmp",
        ] {
            assert!(
                matches!(resolve("/", bad), Err(FsError::InvalidName(_))),
                "{bad:?} accepted"
            );
        }
        assert!(resolve("/", "notes-2026.txt").is_ok());
        assert!(resolve("/", "with space and ünïcode").is_ok());
        let deep = "/d".repeat(PATH_MAX / 2 + 1);
        assert_eq!(resolve("/", &deep), Err(FsError::PathTooLong));
    }

    #[test]
    fn splits_and_joins() {
        assert_eq!(split("/a/b"), Some(("/a", "b")));
        assert_eq!(split("/a"), Some(("/", "a")));
        assert_eq!(split("/"), None);
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
    }
}

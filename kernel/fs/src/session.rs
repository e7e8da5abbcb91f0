//! The file commands as functions: each takes the parsed arguments and
//! returns the text to show (or a one-line error). The kernel's handlers,
//! the host tool and the agent's evaluation all call these.

use crate::block::BlockDevice;
use crate::fs::{Fs, Kind};
use crate::path;
use crate::FsError;
use alloc::format;
use alloc::string::{String, ToString};
use core::fmt::Write;

/// How much of a file `cat` shows.
pub const CAT_MAX: usize = 4096;
/// Bytes looked at to call a file binary.
const SNIFF: usize = 1024;

/// `12 B`, `1.5 KiB`, `256.0 MiB`.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    // One decimal without float formatting (no_std has it, but keep it
    // exact and cheap): tenths, rounded.
    let tenths = (v * 10.0 + 0.5) as u64;
    format!("{}.{} {}", tenths / 10, tenths % 10, UNITS[unit])
}

/// What `cat` shows of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cat {
    /// The text (empty for a binary file).
    pub text: String,
    /// A note about what is not shown (truncated, binary).
    pub note: Option<String>,
}

impl core::fmt::Display for Cat {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.text)?;
        if let Some(n) = &self.note {
            if !self.text.is_empty() && !self.text.ends_with('\n') {
                f.write_str("\n")?;
            }
            write!(f, "[{n}]")?;
        }
        Ok(())
    }
}

/// The state the file commands share: the current directory.
#[derive(Debug, Clone)]
pub struct Session {
    cwd: String,
}

impl Default for Session {
    fn default() -> Self {
        Self::new()
    }
}

impl Session {
    /// A session in `/`.
    pub fn new() -> Self {
        Session {
            cwd: String::from("/"),
        }
    }

    /// The current directory.
    pub fn cwd(&self) -> &str {
        &self.cwd
    }

    /// Resolves a path argument against the current directory.
    pub fn resolve(&self, p: &str) -> Result<String, FsError> {
        path::resolve(&self.cwd, p)
    }

    /// `ls [PATH]`: one line per entry (directories end in `/`, files show
    /// their size).
    pub fn ls<D: BlockDevice>(&self, fs: &mut Fs<D>, p: Option<&str>) -> Result<String, FsError> {
        let p = self.resolve(p.unwrap_or("."))?;
        let entry = fs.stat(&p)?;
        if entry.kind == Kind::File {
            return Ok(format!("{}  {}", p, format_size(entry.size)));
        }
        let entries = fs.list(&p)?;
        if entries.is_empty() {
            return Ok(format!("{p}: empty directory"));
        }
        let width = entries
            .iter()
            .map(|e| e.name.chars().count() + 1)
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        for e in entries {
            match e.kind {
                Kind::Dir => {
                    let _ = writeln!(out, "{}/", e.name);
                }
                Kind::File => {
                    let _ = writeln!(out, "{:<width$} {}", e.name, format_size(e.size));
                }
            }
        }
        out.pop();
        Ok(out)
    }

    /// `cat PATH`: the text of a file, truncated at [`CAT_MAX`] bytes with a
    /// note; a binary file gets a note and none of its bytes.
    pub fn cat<D: BlockDevice>(&self, fs: &mut Fs<D>, p: &str) -> Result<Cat, FsError> {
        let p = self.resolve(p)?;
        let (bytes, size) = fs.read(&p, CAT_MAX)?;
        let sniff = &bytes[..bytes.len().min(SNIFF)];
        let text = match core::str::from_utf8(&bytes) {
            Ok(t) => Some(t),
            // A multi-byte character cut by the truncation is not binary.
            Err(e) if e.error_len().is_none() && (size as usize) > bytes.len() => {
                core::str::from_utf8(&bytes[..e.valid_up_to()]).ok()
            }
            Err(_) => None,
        };
        match text {
            Some(t) if !sniff.contains(&0) => {
                let note = ((size as usize) > t.len())
                    .then(|| format!("truncated: showing {} of {} bytes", t.len(), size));
                Ok(Cat {
                    text: t.to_string(),
                    note,
                })
            }
            _ => Ok(Cat {
                text: String::new(),
                note: Some(format!("{p}: binary file, {size} bytes, not shown")),
            }),
        }
    }

    /// `write PATH TEXT`: creates or replaces the file with TEXT as a line
    /// (a newline is added unless TEXT ends with one), atomically.
    pub fn write<D: BlockDevice>(
        &self,
        fs: &mut Fs<D>,
        p: &str,
        text: &str,
    ) -> Result<String, FsError> {
        let p = self.resolve(p)?;
        path::check_writable(&p)?;
        let mut data = String::from(text);
        if !data.ends_with('\n') {
            data.push('\n');
        }
        fs.write(&p, data.as_bytes())?;
        Ok(format!("wrote {} bytes to {p}", data.len()))
    }

    /// `append PATH TEXT`: appends TEXT as a line (a newline is added).
    pub fn append<D: BlockDevice>(
        &self,
        fs: &mut Fs<D>,
        p: &str,
        text: &str,
    ) -> Result<String, FsError> {
        let p = self.resolve(p)?;
        path::check_writable(&p)?;
        let mut line = String::with_capacity(text.len() + 1);
        line.push_str(text);
        line.push('\n');
        fs.append(&p, line.as_bytes())?;
        Ok(format!("appended {} bytes to {p}", line.len()))
    }

    /// `rm [-r] PATH`.
    pub fn rm<D: BlockDevice>(
        &self,
        fs: &mut Fs<D>,
        p: &str,
        recursive: bool,
    ) -> Result<String, FsError> {
        let p = self.resolve(p)?;
        if p == "/" {
            return Err(FsError::IsRoot);
        }
        if self.cwd == p || self.cwd.starts_with(&format!("{p}/")) {
            return Err(FsError::InUse(p));
        }
        let n = fs.remove(&p, recursive)?;
        Ok(if n > 1 {
            format!("removed {p} and {} entries in it", n - 1)
        } else {
            format!("removed {p}")
        })
    }

    /// `mv FROM TO`: an atomic rename (into TO if it is a directory).
    pub fn mv<D: BlockDevice>(
        &self,
        fs: &mut Fs<D>,
        from: &str,
        to: &str,
    ) -> Result<String, FsError> {
        let (from, to) = (self.resolve(from)?, self.resolve(to)?);
        path::check_writable(&from)?;
        path::check_writable(&fs.rename_target(&from, &to)?)?;
        let to = fs.rename(&from, &to)?;
        Ok(format!("moved {from} to {to}"))
    }

    /// `mkdir PATH`.
    pub fn mkdir<D: BlockDevice>(&self, fs: &mut Fs<D>, p: &str) -> Result<String, FsError> {
        let p = self.resolve(p)?;
        fs.mkdir(&p)?;
        Ok(format!("created directory {p}"))
    }

    /// `df`: size, used and free, and `location` (where the data lives).
    pub fn df<D: BlockDevice>(&self, fs: &mut Fs<D>, location: &str) -> Result<String, FsError> {
        let u = fs.usage()?;
        Ok(format!(
            "{} total, {} used, {} free ({} blocks of {} bytes)\n{location}",
            format_size(u.total_bytes()),
            format_size(u.used_bytes()),
            format_size(u.free_bytes()),
            u.blocks,
            u.block_size,
        ))
    }

    /// `cd [PATH]`: changes the current directory (to `/` without PATH).
    pub fn cd<D: BlockDevice>(
        &mut self,
        fs: &mut Fs<D>,
        p: Option<&str>,
    ) -> Result<String, FsError> {
        let p = self.resolve(p.unwrap_or("/"))?;
        match fs.stat(&p)?.kind {
            Kind::Dir => {
                self.cwd = p;
                Ok(self.cwd.clone())
            }
            Kind::File => Err(FsError::NotDir(p)),
        }
    }

    /// `pwd`.
    pub fn pwd(&self) -> String {
        self.cwd.clone()
    }
}

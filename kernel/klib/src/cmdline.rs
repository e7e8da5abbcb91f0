//! The kernel command line: whitespace-separated `key` or `key=value` words.
//!
//! Under QEMU it comes from the fw_cfg file `opt/llm/cmdline`
//! (`-fw_cfg name=opt/llm/cmdline,string=...`); elsewhere it is empty.
//!
//! | word | meaning |
//! | --- | --- |
//! | `color=on` / `color=off` | ANSI colours on the console (default on) |
//! | `log=error\|warn\|info\|debug\|trace` | kernel log level (default info) |
//! | `test` | enable test-only commands (`/test-fault`) |
//! | `load=eager` / `load=lazy` | read the whole model at boot (default), or on first touch |
//! | `backend=NAME` | use this engine backend instead of timing them at boot |
//! | `model=off` | do not look for a model |

use alloc::string::String;
use alloc::vec::Vec;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

/// How the model's weights are brought into memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadMode {
    /// Everything read at boot, with a progress bar.
    Eager,
    /// Each chunk read when first touched (page faults).
    Lazy,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootOptions {
    pub color: bool,
    pub log_level: LogLevel,
    pub test_commands: bool,
    pub load: LoadMode,
    /// A backend name to use instead of timing them.
    pub backend: Option<String>,
    /// Whether to look for a model at boot.
    pub model: bool,
    /// Words that were not understood (reported in the log, not fatal).
    pub unknown: Vec<String>,
}

impl Default for BootOptions {
    fn default() -> Self {
        BootOptions {
            color: true,
            log_level: LogLevel::Info,
            test_commands: false,
            load: LoadMode::Eager,
            backend: None,
            model: true,
            unknown: Vec::new(),
        }
    }
}

impl BootOptions {
    pub fn parse(cmdline: &str) -> BootOptions {
        let mut o = BootOptions::default();
        for word in cmdline.split_whitespace() {
            let (key, value) = match word.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (word, None),
            };
            let ok = match (key, value) {
                ("color", Some("on")) => {
                    o.color = true;
                    true
                }
                ("color", Some("off")) => {
                    o.color = false;
                    true
                }
                ("log", Some(v)) => match parse_level(v) {
                    Some(l) => {
                        o.log_level = l;
                        true
                    }
                    None => false,
                },
                ("load", Some("eager")) => {
                    o.load = LoadMode::Eager;
                    true
                }
                ("load", Some("lazy")) => {
                    o.load = LoadMode::Lazy;
                    true
                }
                ("backend", Some(b)) if !b.is_empty() => {
                    o.backend = Some(b.into());
                    true
                }
                ("model", Some("off")) => {
                    o.model = false;
                    true
                }
                ("model", Some("on")) => {
                    o.model = true;
                    true
                }
                ("test", None) => {
                    o.test_commands = true;
                    true
                }
                _ => false,
            };
            if !ok {
                o.unknown.push(word.into());
            }
        }
        o
    }
}

fn parse_level(s: &str) -> Option<LogLevel> {
    Some(match s {
        "error" => LogLevel::Error,
        "warn" => LogLevel::Warn,
        "info" => LogLevel::Info,
        "debug" => LogLevel::Debug,
        "trace" => LogLevel::Trace,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_gives_defaults() {
        assert_eq!(BootOptions::parse(""), BootOptions::default());
        assert_eq!(BootOptions::parse("  \n "), BootOptions::default());
    }

    #[test]
    fn known_words() {
        let o = BootOptions::parse("test color=off log=debug");
        assert!(o.test_commands);
        assert!(!o.color);
        assert_eq!(o.log_level, LogLevel::Debug);
        assert!(o.unknown.is_empty());
        assert_eq!(o.load, LoadMode::Eager);
        let o = BootOptions::parse("load=lazy backend=tcg model=off");
        assert_eq!(o.load, LoadMode::Lazy);
        assert_eq!(o.backend.as_deref(), Some("tcg"));
        assert!(!o.model);
        assert!(o.unknown.is_empty());
        assert_eq!(
            BootOptions::parse("load=fast backend=").unknown,
            ["load=fast", "backend="]
        );
    }

    #[test]
    fn unknown_words_are_collected() {
        let o = BootOptions::parse("color=blue foo log=loud test=1");
        assert!(o.color);
        assert_eq!(o.log_level, LogLevel::Info);
        assert!(!o.test_commands);
        assert_eq!(o.unknown, ["color=blue", "foo", "log=loud", "test=1"]);
    }
}

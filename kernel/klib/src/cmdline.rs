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

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootOptions {
    pub color: bool,
    pub log_level: LogLevel,
    pub test_commands: bool,
    /// Words that were not understood (reported in the log, not fatal).
    pub unknown: Vec<String>,
}

impl Default for BootOptions {
    fn default() -> Self {
        BootOptions {
            color: true,
            log_level: LogLevel::Info,
            test_commands: false,
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

//! The command registry: one static table of commands (name, argument
//! syntax, one-line help, handler) from which the parser and `/help` are
//! built — and later the model's prompt and its decoding grammar.
//!
//! A console line starting with `/` is a command; any other non-empty line is
//! text for the model.

use alloc::format;
use alloc::string::String;
use core::fmt::Write;

/// What a command accepts after its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgSpec {
    /// Nothing.
    None,
    /// Exactly one of the given words (or nothing, when `optional`).
    OneOf {
        choices: &'static [&'static str],
        optional: bool,
    },
    /// Free text: the rest of the line (`name` is shown in the syntax).
    Text { name: &'static str, optional: bool },
}

impl ArgSpec {
    /// The syntax as shown in `/help`: `[on|off]`, `<pf|de>`, `<text>`.
    pub fn syntax(&self) -> String {
        let (inner, optional) = match self {
            ArgSpec::None => return String::new(),
            ArgSpec::OneOf { choices, optional } => (choices.join("|"), *optional),
            ArgSpec::Text { name, optional } => (String::from(*name), *optional),
        };
        if optional {
            format!("[{inner}]")
        } else {
            format!("<{inner}>")
        }
    }

    /// Checks `arg` (already trimmed; empty = none given).
    fn accepts(&self, arg: &str) -> bool {
        match self {
            ArgSpec::None => arg.is_empty(),
            ArgSpec::OneOf { choices, optional } => {
                (arg.is_empty() && *optional) || choices.contains(&arg)
            }
            ArgSpec::Text { optional, .. } => !arg.is_empty() || *optional,
        }
    }
}

/// One entry of the registry. `H` is the handler type the kernel uses.
pub struct Command<H> {
    /// The name without the leading `/`.
    pub name: &'static str,
    pub args: ArgSpec,
    /// One line, no trailing period.
    pub help: &'static str,
    /// Test-only commands: hidden from `/help` and refused unless enabled.
    pub test_only: bool,
    pub handler: H,
}

impl<H> Command<H> {
    /// `/name <syntax>`.
    pub fn usage(&self) -> String {
        let syntax = self.args.syntax();
        if syntax.is_empty() {
            format!("/{}", self.name)
        } else {
            format!("/{} {syntax}", self.name)
        }
    }
}

/// A console line, classified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input<'a> {
    /// Blank line.
    Empty,
    /// `/name args...` (`args` trimmed, possibly empty).
    Command { name: &'a str, args: &'a str },
    /// Anything else: text for the model.
    Text(&'a str),
}

pub fn classify(line: &str) -> Input<'_> {
    let line = line.trim();
    if line.is_empty() {
        return Input::Empty;
    }
    match line.strip_prefix('/') {
        Some(rest) => {
            let (name, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            Input::Command {
                name,
                args: args.trim(),
            }
        }
        None => Input::Text(line),
    }
}

/// The outcome of looking a command up.
pub enum Resolved<'t, 'a, H> {
    /// Run `command` with `arg` (`None` when no argument was given).
    Run {
        command: &'t Command<H>,
        arg: Option<&'a str>,
    },
    /// The arguments do not match the command's syntax.
    BadArgs { command: &'t Command<H> },
    /// No such command; `suggestion` is a close name, if any.
    Unknown { suggestion: Option<&'static str> },
}

/// Looks `name` up in `table`. Test-only commands count only when
/// `test_commands` is on.
pub fn resolve<'t, 'a, H>(
    table: &'t [Command<H>],
    name: &str,
    args: &'a str,
    test_commands: bool,
) -> Resolved<'t, 'a, H> {
    let visible = |c: &&Command<H>| test_commands || !c.test_only;
    match table.iter().filter(visible).find(|c| c.name == name) {
        Some(command) if command.args.accepts(args) => Resolved::Run {
            command,
            arg: (!args.is_empty()).then_some(args),
        },
        Some(command) => Resolved::BadArgs { command },
        None => Resolved::Unknown {
            suggestion: table
                .iter()
                .filter(visible)
                .find(|c| {
                    !name.is_empty() && (c.name.starts_with(name) || name.starts_with(c.name))
                })
                .map(|c| c.name),
        },
    }
}

/// The text of `/help`: one aligned line per visible command.
pub fn help<H>(table: &[Command<H>], test_commands: bool) -> String {
    let visible = || table.iter().filter(move |c| test_commands || !c.test_only);
    let width = visible().map(|c| c.usage().len()).max().unwrap_or(0);
    let mut out = String::new();
    for c in visible() {
        let _ = writeln!(out, "  {:width$}  {}", c.usage(), c.help);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn table() -> [Command<u8>; 4] {
        [
            Command {
                name: "help",
                args: ArgSpec::None,
                help: "list the commands",
                test_only: false,
                handler: 0,
            },
            Command {
                name: "color",
                args: ArgSpec::OneOf {
                    choices: &["on", "off"],
                    optional: true,
                },
                help: "switch ANSI colours",
                test_only: false,
                handler: 1,
            },
            Command {
                name: "test-fault",
                args: ArgSpec::OneOf {
                    choices: &["pf", "de"],
                    optional: false,
                },
                help: "raise a CPU exception",
                test_only: true,
                handler: 2,
            },
            Command {
                name: "echo",
                args: ArgSpec::Text {
                    name: "text",
                    optional: false,
                },
                help: "print text",
                test_only: false,
                handler: 3,
            },
        ]
    }

    #[test]
    fn classify_lines() {
        assert_eq!(classify("   "), Input::Empty);
        assert_eq!(
            classify(" /mem "),
            Input::Command {
                name: "mem",
                args: ""
            }
        );
        assert_eq!(
            classify("/color   off "),
            Input::Command {
                name: "color",
                args: "off"
            }
        );
        assert_eq!(classify("hello /mem"), Input::Text("hello /mem"));
        assert_eq!(classify("/"), Input::Command { name: "", args: "" });
    }

    fn run(name: &str, args: &str, test: bool) -> Result<(u8, Option<String>), String> {
        match resolve(&table(), name, args, test) {
            Resolved::Run { command, arg } => Ok((command.handler, arg.map(String::from))),
            Resolved::BadArgs { command } => Err(format!("usage: {}", command.usage())),
            Resolved::Unknown { suggestion } => Err(format!("unknown, try {suggestion:?}")),
        }
    }

    #[test]
    fn arguments_are_checked_against_the_syntax() {
        assert_eq!(run("help", "", false), Ok((0, None)));
        assert_eq!(run("help", "me", false), Err("usage: /help".into()));
        assert_eq!(run("color", "", false), Ok((1, None)));
        assert_eq!(run("color", "off", false), Ok((1, Some("off".into()))));
        assert_eq!(
            run("color", "blue", false),
            Err("usage: /color [on|off]".into())
        );
        assert_eq!(run("echo", "a b  c", false), Ok((3, Some("a b  c".into()))));
        assert_eq!(run("echo", "", false), Err("usage: /echo <text>".into()));
    }

    #[test]
    fn test_only_commands_need_enabling() {
        assert_eq!(
            run("test-fault", "pf", false),
            Err("unknown, try None".into())
        );
        assert_eq!(run("test-fault", "pf", true), Ok((2, Some("pf".into()))));
        assert_eq!(
            run("test-fault", "xx", true),
            Err("usage: /test-fault <pf|de>".into())
        );
    }

    #[test]
    fn unknown_commands_get_a_suggestion() {
        assert_eq!(
            run("col", "", false),
            Err("unknown, try Some(\"color\")".into())
        );
        assert_eq!(
            run("helpme", "", false),
            Err("unknown, try Some(\"help\")".into())
        );
        assert_eq!(run("zzz", "", false), Err("unknown, try None".into()));
        assert_eq!(run("", "", false), Err("unknown, try None".into()));
    }

    #[test]
    fn help_lists_visible_commands_aligned() {
        let h = help(&table(), false);
        let lines: Vec<&str> = h.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], "  /help            list the commands");
        assert_eq!(lines[1], "  /color [on|off]  switch ANSI colours");
        assert!(!h.contains("test-fault"));
        assert!(help(&table(), true).contains("/test-fault <pf|de>  raise a CPU exception"));
    }
}

//! The one parser: a console line (or, through [`Registry::invocation`], a
//! model's call with named values) becomes an [`Invocation`] of a
//! registry command with checked values, or a one-line error that says
//! what is wrong and shows the usage.
//!
//! Syntax: `/name [switches] positional... [rest of line]`. Switches
//! (`-r`, `-n 8`) come before the positional arguments (`--` ends them);
//! a word with spaces is written in double quotes (`"my notes.txt"`, with
//! `\"` and `\\` inside); a text or command argument takes the rest of the
//! line as typed.

use super::spec::{Kind, Spec};
use super::value::Value;
use super::Registry;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

/// A registry command with its checked argument values.
#[derive(Clone, Debug, PartialEq)]
pub struct Invocation {
    pub spec: &'static Spec,
    /// One entry per `spec.args`, `None` where not given.
    pub values: Vec<Option<Value>>,
}

impl Invocation {
    pub fn name(&self) -> &'static str {
        self.spec.name
    }

    /// The value of the argument called `name`, if given.
    pub fn get(&self, name: &str) -> Option<&Value> {
        let (i, _) = self.spec.arg(name)?;
        self.values.get(i)?.as_ref()
    }

    /// A path, word, choice, text or command argument.
    pub fn str(&self, name: &str) -> Option<&str> {
        match self.get(name)? {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn int(&self, name: &str) -> Option<u64> {
        match self.get(name)? {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }

    pub fn num(&self, name: &str) -> Option<f64> {
        match self.get(name)? {
            Value::Num(x) => Some(*x),
            _ => None,
        }
    }

    /// A duration argument, in milliseconds.
    pub fn millis(&self, name: &str) -> Option<u64> {
        match self.get(name)? {
            Value::Millis(ms) => Some(*ms),
            _ => None,
        }
    }

    /// A flag: false unless given.
    pub fn flag(&self, name: &str) -> bool {
        matches!(self.get(name), Some(Value::Bool(true)))
    }

    /// The invocation as the person would type it, in canonical form
    /// (`/rm -r /drafts`): what the console shows before a model's call
    /// runs, and what the audit log records. Parsing it gives the same
    /// invocation back.
    pub fn command_line(&self) -> String {
        let mut s = format!("/{}", self.spec.name);
        let given = || {
            self.spec
                .args
                .iter()
                .zip(&self.values)
                .filter_map(|(a, v)| v.as_ref().map(|v| (a, v)))
        };
        for (a, v) in given().filter(|(a, _)| a.switch.is_some()) {
            match v {
                Value::Bool(false) => {}
                Value::Bool(true) => {
                    s.push(' ');
                    s.push_str(a.switch.unwrap_or_default());
                }
                v => {
                    s.push(' ');
                    s.push_str(a.switch.unwrap_or_default());
                    s.push(' ');
                    s.push_str(&quote(&v.to_text()));
                }
            }
        }
        let mut first_positional = true;
        for (a, v) in given().filter(|(a, _)| a.switch.is_none()) {
            s.push(' ');
            let text = v.to_text();
            if first_positional && text.starts_with('-') && has_switches(self.spec) {
                // Else it would be read back as a switch (fuzz target
                // command_line: `/complete -- -n 5` came back as `-n 5`).
                s.push_str("-- ");
                s.push_str(&if a.kind.is_rest() {
                    text.clone()
                } else {
                    quote(&text)
                });
            } else if a.kind.is_rest() {
                s.push_str(&text);
            } else {
                s.push_str(&quote(&text));
            }
            first_positional = false;
        }
        s
    }
}

fn has_switches(spec: &Spec) -> bool {
    spec.args.iter().any(|a| a.switch.is_some())
}

/// A word as it must be typed: quoted when it has spaces, quotes or
/// backslashes, or is empty.
pub fn quote(word: &str) -> String {
    if !word.is_empty() && !word.contains(|c: char| c.is_whitespace() || c == '"' || c == '\\') {
        return word.into();
    }
    let mut s = String::from("\"");
    for c in word.chars() {
        if c == '"' || c == '\\' {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
    s
}

/// Why a line is not a valid command.
#[derive(Clone, Debug, PartialEq)]
pub enum ParseError {
    /// No such command; `suggestion` is a close name, if any.
    Unknown {
        name: String,
        suggestion: Option<&'static str>,
    },
    /// The arguments do not fit the command: `why`, then the usage line.
    Usage { spec: &'static Spec, why: String },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Unknown { name, suggestion } => {
                write!(f, "unknown command /{name}")?;
                if let Some(s) = suggestion {
                    write!(f, " (did you mean /{s}?)")?;
                }
                write!(f, "; type /help for the list")
            }
            ParseError::Usage { spec, why } => {
                write!(f, "/{}: {why}; usage: {}", spec.name, spec.usage())
            }
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

/// The next word of `s` (which starts with it, no leading space): its
/// value (quotes removed) and the rest after it.
fn next_word(s: &str) -> Result<(String, &str), String> {
    let Some(body) = s.strip_prefix('"') else {
        let end = s.find(char::is_whitespace).unwrap_or(s.len());
        return Ok((s[..end].into(), &s[end..]));
    };
    let mut word = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                let rest = &body[i + 1..];
                if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
                    return Err("a closing quote must end the word".into());
                }
                return Ok((word, rest));
            }
            '\\' => match chars.next() {
                Some((_, c)) => word.push(c),
                None => break,
            },
            c => word.push(c),
        }
    }
    Err("a quote is not closed".into())
}

impl Registry {
    /// Parses the arguments of `/name args`.
    pub fn parse_command(
        &self,
        name: &str,
        args: &str,
        test_commands: bool,
    ) -> Result<Invocation, ParseError> {
        let spec = self
            .find(name, test_commands)
            .ok_or_else(|| ParseError::Unknown {
                name: name.into(),
                suggestion: self.suggest(name, test_commands),
            })?;
        let usage = |why: String| ParseError::Usage { spec, why };
        let mut values: Vec<Option<Value>> = vec![None; spec.args.len()];
        let positional: Vec<usize> = (0..spec.args.len())
            .filter(|&i| spec.args[i].switch.is_none())
            .collect();
        let mut next = 0; // index into `positional`
        let mut switches_done = !has_switches(spec);
        let mut rest = args.trim();
        loop {
            rest = rest.trim_start();
            if rest.is_empty() {
                break;
            }
            if !switches_done && rest.starts_with('-') {
                let (word, after) = next_word(rest).map_err(usage)?;
                if word == "--" {
                    switches_done = true;
                    rest = after;
                    continue;
                }
                let Some(i) = spec.args.iter().position(|a| a.switch == Some(&word)) else {
                    return Err(usage(format!("unknown option {word}")));
                };
                let a = &spec.args[i];
                if values[i].is_some() {
                    return Err(usage(format!("{word} is given twice")));
                }
                if a.kind == Kind::Flag {
                    values[i] = Some(Value::Bool(true));
                    rest = after;
                    continue;
                }
                let after = after.trim_start();
                if after.is_empty() {
                    return Err(usage(format!("{word} needs a {}", a.name)));
                }
                let (raw, after) = next_word(after).map_err(usage)?;
                values[i] = Some(
                    a.kind
                        .parse_value(&raw)
                        .map_err(|e| usage(format!("{} {e}", a.name)))?,
                );
                rest = after;
                continue;
            }
            switches_done = true;
            let Some(&i) = positional.get(next) else {
                return Err(usage(format!("unexpected {rest:?}")));
            };
            let a = &spec.args[i];
            let (raw, after) = if a.kind.is_rest() {
                (String::from(rest), "")
            } else {
                next_word(rest).map_err(usage)?
            };
            let value = a
                .kind
                .parse_value(&raw)
                .map_err(|e| usage(format!("{} {e}", a.name)))?;
            if a.kind == Kind::Command {
                self.check_nested(&raw, test_commands)
                    .map_err(|e| usage(format!("{} {e}", a.name)))?;
            }
            values[i] = Some(value);
            next += 1;
            rest = after;
        }
        if let Some(a) = spec
            .args
            .iter()
            .zip(&values)
            .find_map(|(a, v)| (a.required && v.is_none()).then_some(a))
        {
            return Err(usage(format!("missing {}", a.syntax())));
        }
        Ok(Invocation { spec, values })
    }

    /// A command argument must itself be a valid command line.
    fn check_nested(&self, line: &str, test_commands: bool) -> Result<(), String> {
        match classify(line) {
            Input::Command { name, args } => self
                .parse_command(name, args, test_commands)
                .map(|_| ())
                .map_err(|e| format!("is not a valid command: {e}")),
            _ => Err(format!(
                "must be a command line starting with /, not {line:?}"
            )),
        }
    }

    /// Builds an invocation from named values in their text form (a
    /// model's call: `{"path": "/a.txt"}` gives `("path", "/a.txt")`;
    /// numbers as written, flags as `true`/`false`). The same checks as
    /// for a typed line; unknown names are refused.
    pub fn invocation(
        &self,
        name: &str,
        named: &[(&str, &str)],
        test_commands: bool,
    ) -> Result<Invocation, ParseError> {
        let spec = self
            .find(name, test_commands)
            .ok_or_else(|| ParseError::Unknown {
                name: name.into(),
                suggestion: self.suggest(name, test_commands),
            })?;
        let usage = |why: String| ParseError::Usage { spec, why };
        let mut values: Vec<Option<Value>> = vec![None; spec.args.len()];
        for &(key, raw) in named {
            let Some((i, a)) = spec.arg(key) else {
                return Err(usage(format!("has no argument {key:?}")));
            };
            if values[i].is_some() {
                return Err(usage(format!("{key} is given twice")));
            }
            // A rest-of-line value is trimmed, as a typed line's is, so
            // that the canonical command line gives it back unchanged.
            let raw = if a.kind.is_rest() { raw.trim() } else { raw };
            let v = a
                .kind
                .parse_value(raw)
                .map_err(|e| usage(format!("{key} {e}")))?;
            if a.kind == Kind::Command {
                self.check_nested(raw, test_commands)
                    .map_err(|e| usage(format!("{key} {e}")))?;
            }
            values[i] = Some(v);
        }
        if let Some(a) = spec
            .args
            .iter()
            .zip(&values)
            .find_map(|(a, v)| (a.required && v.is_none()).then_some(a))
        {
            return Err(usage(format!("missing {}", a.name)));
        }
        Ok(Invocation { spec, values })
    }
}

#[cfg(test)]
mod tests {
    use super::super::spec::{Arg, Audience, Tier};
    use super::*;
    use alloc::string::ToString;

    static SPECS: &[Spec] = &[
        Spec {
            name: "rm",
            args: &[
                Arg::flag("recursive", "-r", "remove a directory and all it holds"),
                Arg::req("path", Kind::Path, "what to remove"),
            ],
            help: "remove a file",
            tier: Tier::Destructive,
            audience: Audience::Everyone,
            aliases: &[],
        },
        Spec {
            name: "write",
            args: &[
                Arg::req("path", Kind::Path, "the file"),
                Arg::req("text", Kind::Text, "its new content"),
            ],
            help: "write a file",
            tier: Tier::Write,
            audience: Audience::Everyone,
            aliases: &[],
        },
        Spec {
            name: "complete",
            args: &[
                Arg::flag("ids", "--ids", "print token ids"),
                Arg::option("tokens", "-n", Kind::Int { min: 1, max: 99 }, "how many"),
                Arg::req("text", Kind::Text, "the prompt"),
            ],
            help: "complete text",
            tier: Tier::Read,
            audience: Audience::Person,
            aliases: &[],
        },
        Spec {
            name: "every",
            args: &[
                Arg::req(
                    "interval",
                    Kind::Duration {
                        min_ms: 100,
                        max_ms: 86_400_000,
                    },
                    "how often",
                ),
                Arg::req("command", Kind::Command, "what to run"),
            ],
            help: "repeat a command",
            tier: Tier::Write,
            audience: Audience::Everyone,
            aliases: &[],
        },
        Spec {
            name: "color",
            args: &[Arg::opt("mode", Kind::Choice(&["on", "off"]), "on or off")],
            help: "colours",
            tier: Tier::Write,
            audience: Audience::Person,
            aliases: &[],
        },
        Spec {
            name: "test-fault",
            args: &[],
            help: "fault",
            tier: Tier::Power,
            audience: Audience::Test,
            aliases: &[],
        },
    ];
    static REG: Registry = Registry::new(&[SPECS]);

    fn parse(line: &str) -> Result<Invocation, String> {
        match classify(line) {
            Input::Command { name, args } => REG
                .parse_command(name, args, false)
                .map_err(|e| e.to_string()),
            other => panic!("not a command: {other:?}"),
        }
    }

    /// Regression (fuzz target command_line): a text starting with a
    /// switch's name keeps its `--` in the canonical line.
    #[test]
    fn rest_text_that_looks_like_a_switch_round_trips() {
        static ALL: &[&[Spec]] = &[SPECS];
        let r = Registry::new(ALL);
        let inv = r.parse_command("complete", "-- -n 5", false).unwrap();
        let line = inv.command_line();
        assert_eq!(line, "/complete -- -n 5");
        let again = r
            .parse_command("complete", &line["/complete ".len()..], false)
            .unwrap();
        assert_eq!(again.command_line(), line);
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
    }

    #[test]
    fn switches_positionals_and_rest() {
        let i = parse("/rm -r /drafts").unwrap();
        assert!(i.flag("recursive"));
        assert_eq!(i.str("path"), Some("/drafts"));
        let i = parse("/rm /a.txt").unwrap();
        assert!(!i.flag("recursive"));
        let i = parse("/write notes.txt  hello,   world ").unwrap();
        assert_eq!(i.str("text"), Some("hello,   world"));
        let i = parse("/write \"my notes.txt\" a \"quoted\" word").unwrap();
        assert_eq!(i.str("path"), Some("my notes.txt"));
        assert_eq!(i.str("text"), Some("a \"quoted\" word"));
        let i = parse("/complete --ids -n 8 The capital").unwrap();
        assert!(i.flag("ids"));
        assert_eq!(i.int("tokens"), Some(8));
        assert_eq!(i.str("text"), Some("The capital"));
        let i = parse("/complete -- -n is text").unwrap();
        assert_eq!(i.str("text"), Some("-n is text"));
        assert_eq!(parse("/color").unwrap().str("mode"), None);
    }

    #[test]
    fn errors_say_what_and_show_usage() {
        let e = parse("/rm").unwrap_err();
        assert_eq!(e, "/rm: missing <path>; usage: /rm [-r] <path>");
        assert!(parse("/rm -x a").unwrap_err().contains("unknown option -x"));
        assert!(parse("/rm -r -r a").unwrap_err().contains("given twice"));
        assert!(parse("/rm a b").unwrap_err().contains("unexpected \"b\""));
        assert!(parse("/rm \"a")
            .unwrap_err()
            .contains("quote is not closed"));
        assert!(parse("/rm \"a\"b").unwrap_err().contains("closing quote"));
        assert!(parse("/complete -n")
            .unwrap_err()
            .contains("-n needs a tokens"));
        assert!(parse("/complete -n 0 x")
            .unwrap_err()
            .contains("tokens must be a whole number from 1 to 99"));
        assert!(parse("/color blue")
            .unwrap_err()
            .contains("mode must be one of on, off"));
        assert!(parse("/every 0s /rm a")
            .unwrap_err()
            .contains("interval must be from 100ms"));
        assert!(parse("/every 10s mem")
            .unwrap_err()
            .contains("starting with /"));
        assert!(parse("/every 10s /rm")
            .unwrap_err()
            .contains("is not a valid command: /rm: missing"));
        assert!(parse("/every 10s /rm x").is_ok());
        let e = parse("/wrte a b").unwrap_err();
        assert_eq!(e, "unknown command /wrte; type /help for the list");
        assert!(parse("/writ a b")
            .unwrap_err()
            .contains("did you mean /write?"));
        assert!(parse("/test-fault")
            .unwrap_err()
            .starts_with("unknown command"));
        assert!(REG.parse_command("test-fault", "", true).is_ok());
    }

    #[test]
    fn command_lines_round_trip() {
        for line in [
            "/rm -r /drafts",
            "/rm \"my file\"",
            "/rm -- -odd",
            "/write \"a b\" some text",
            "/complete --ids -n 8 x y",
            "/every 90s /rm \"x y\"",
            "/color off",
            "/color",
        ] {
            let i = parse(line).unwrap();
            assert_eq!(i.command_line(), line);
            assert_eq!(parse(&i.command_line()).unwrap(), i);
        }
        assert_eq!(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }

    #[test]
    fn named_values_as_from_a_model() {
        let i = REG
            .invocation("rm", &[("path", "/x"), ("recursive", "true")], false)
            .unwrap();
        assert_eq!(i.command_line(), "/rm -r /x");
        assert_eq!(i, parse("/rm -r /x").unwrap());
        let e = REG.invocation("rm", &[("file", "/x")], false).unwrap_err();
        assert!(e.to_string().contains("has no argument \"file\""));
        let e = REG.invocation("rm", &[], false).unwrap_err();
        assert!(e.to_string().contains("missing path"));
        let e = REG.invocation("rm", &[("path", "/x"), ("recursive", "yes")], false);
        assert!(e.unwrap_err().to_string().contains("true or false"));
        assert!(REG
            .invocation("every", &[("interval", "5m"), ("command", "/rm a")], false)
            .is_ok());
        assert!(REG.invocation("nope", &[], false).is_err());
        // Found by the fuzzer: a text with outer spaces must survive the
        // round trip through the canonical line.
        let i = REG
            .invocation("write", &[("path", "a"), ("text", " hello ")], false)
            .unwrap();
        assert_eq!(i.str("text"), Some("hello"));
        assert_eq!(parse(&i.command_line()).unwrap(), i);
    }
}

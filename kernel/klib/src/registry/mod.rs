//! The command registry: every command the kernel knows, described once.
//!
//! A command's description ([`Spec`]: name, typed and named arguments each
//! with a one-line meaning, description, risk [`Tier`], [`Audience`]) is
//! static data in [`commands`], one slice per subject (`system`, `model`,
//! ...). Everything else is derived from that table:
//! - the parser of the person's `/command` lines and of the model's calls
//!   with named values, both giving one [`Invocation`] type ([`parse`]);
//! - `/help` and `/help NAME` ([`help`]);
//! - the model's tool list and its decoding grammar (in `model_loader`'s
//!   agent code, which reads these same descriptions).
//!
//! Handlers are not here: the kernel joins each command by name to a
//! handler next to its subject, and the host (evaluation, pack builder)
//! uses only the descriptions. A handler writes into an [`Output`], which
//! shows the text to the person and keeps a bounded copy for the model and
//! the audit log.
//!
//! ## Adding a command
//! 1. Describe it in the slice of its subject (`commands/<subject>.rs`):
//!    name, arguments (`Arg::req`, `Arg::opt`, `Arg::flag`, `Arg::option`),
//!    a one-line description, tier and audience. A new subject gets a new
//!    slice file, listed in [`commands::ALL`].
//! 2. Write its handler in the kernel next to its subject and list it in
//!    that subject's handler table (see `kernel/src/shell/registry.rs`).
//! 3. The unit tests here check the table's rules; a QEMU test checks that
//!    every command has a handler.

pub mod commands;
pub mod help;
pub mod output;
pub mod parse;
pub mod spec;
pub mod value;

pub use output::Output;
pub use parse::{classify, quote, Input, Invocation, ParseError};
pub use spec::{Arg, Audience, Kind, Spec, Tier};
pub use value::Value;

/// A set of command descriptions: slices concatenated.
pub struct Registry {
    slices: &'static [&'static [Spec]],
}

/// The kernel's registry.
pub static REGISTRY: Registry = Registry::new(commands::ALL);

impl Registry {
    pub const fn new(slices: &'static [&'static [Spec]]) -> Registry {
        Registry { slices }
    }

    /// Every command, test-only ones included.
    pub fn all(&self) -> impl Iterator<Item = &'static Spec> + Clone {
        self.slices.iter().flat_map(|s| s.iter())
    }

    /// The commands usable here (test-only ones when `test_commands`).
    pub fn visible(&self, test_commands: bool) -> impl Iterator<Item = &'static Spec> + Clone {
        self.all()
            .filter(move |s| test_commands || s.audience != Audience::Test)
    }

    /// The commands offered to the model as tools, in table order.
    pub fn for_model(&self) -> impl Iterator<Item = &'static Spec> + Clone {
        self.all().filter(|s| s.for_model())
    }

    pub fn find(&self, name: &str, test_commands: bool) -> Option<&'static Spec> {
        self.visible(test_commands).find(|s| s.name == name)
    }

    /// The command offered to the model that a call names `name` (its
    /// name or one of its aliases).
    pub fn find_called(&self, name: &str) -> Option<&'static Spec> {
        self.for_model().find(|s| s.called(name))
    }

    /// A close name for a mistyped one.
    pub fn suggest(&self, name: &str, test_commands: bool) -> Option<&'static str> {
        if name.is_empty() {
            return None;
        }
        self.visible(test_commands)
            .find(|c| c.name.starts_with(name) || name.starts_with(c.name))
            .map(|c| c.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// The rules every description follows (so that the parser, `/help`
    /// and the model's tool list work for all of them).
    #[test]
    fn the_table_follows_the_rules() {
        let names: Vec<&str> = REGISTRY.all().map(|s| s.name).collect();
        for (i, n) in names.iter().enumerate() {
            assert!(!names[..i].contains(n), "/{n} is described twice");
            assert!(
                !n.is_empty() && n.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "/{n}: names are lower-case words"
            );
        }
        for s in REGISTRY.all() {
            for a in s.aliases {
                assert!(
                    s.for_model(),
                    "/{}: aliases are for the model's calls",
                    s.name
                );
                assert!(
                    !a.is_empty() && a.bytes().all(|b| b.is_ascii_lowercase()),
                    "/{}: alias {a:?} is a lower-case word",
                    s.name
                );
                assert!(!names.contains(a), "/{}: alias {a:?} is a command", s.name);
                let owners = REGISTRY.all().filter(|t| t.aliases.contains(a)).count();
                assert_eq!(owners, 1, "alias {a:?} names one command");
            }
            assert!(
                !s.help.is_empty() && !s.help.ends_with('.'),
                "/{}: help",
                s.name
            );
            let mut seen_positional = false;
            let mut seen_optional = false;
            for (i, a) in s.args.iter().enumerate() {
                let at = alloc::format!("/{} {}", s.name, a.name);
                assert!(
                    a.name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                    "{at}: argument names are lower_case"
                );
                assert!(!a.help.is_empty() && !a.help.ends_with('.'), "{at}: help");
                assert_eq!(
                    s.args.iter().filter(|b| b.name == a.name).count(),
                    1,
                    "{at}"
                );
                match a.switch {
                    Some(sw) => {
                        assert!(!seen_positional, "{at}: switches come first");
                        assert!(sw.starts_with('-') && sw.len() > 1, "{at}: switch");
                        assert!(!a.required, "{at}: switches are optional");
                    }
                    None => {
                        assert!(a.kind != Kind::Flag, "{at}: a flag needs a switch");
                        assert!(
                            !(a.required && seen_optional),
                            "{at}: required after optional"
                        );
                        seen_positional = true;
                        seen_optional |= !a.required;
                    }
                }
                if a.kind.is_rest() {
                    assert_eq!(i, s.args.len() - 1, "{at}: rest-of-line argument last");
                }
            }
        }
    }

    #[test]
    fn lookups() {
        assert!(REGISTRY.find("help", false).is_some());
        assert!(REGISTRY.find("test-fault", false).is_none());
        assert!(REGISTRY.find("test-fault", true).is_some());
        assert_eq!(REGISTRY.suggest("hel", false), Some("help"));
        assert!(REGISTRY
            .for_model()
            .all(|s| s.audience == Audience::Everyone));
        assert!(REGISTRY.for_model().any(|s| s.name == "date"));
        assert!(!REGISTRY.for_model().any(|s| s.name == "bench"));
    }
}

//! `/help` (every command, one aligned line each) and `/help NAME` (one
//! command: usage, description, risk tier, each argument with its type and
//! meaning), both generated from the descriptions.

use super::spec::{Audience, Kind, Spec, Tier};
use super::Registry;
use alloc::format;
use alloc::string::String;
use core::fmt::Write;

/// The text of `/help`: one aligned line per visible command.
pub fn list(reg: &Registry, test_commands: bool) -> String {
    let width = reg
        .visible(test_commands)
        .map(|c| c.usage().len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for c in reg.visible(test_commands) {
        let _ = writeln!(out, "  {:width$}  {}", c.usage(), c.help);
    }
    out
}

/// The text of `/help NAME`.
pub fn command(spec: &Spec) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", spec.usage());
    let _ = writeln!(out, "  {}", spec.help);
    let who = match spec.audience {
        Audience::Everyone => "typed by you or proposed by the model",
        Audience::Person => "typed by you only (not offered to the model)",
        Audience::Test => "test builds only",
    };
    let asks = match spec.tier {
        Tier::Read => "",
        Tier::Write => "; a model's call asks first when it replaces data",
        Tier::Destructive | Tier::Power => "; a model's call always asks first",
    };
    let _ = writeln!(out, "  tier: {}; {who}{asks}", spec.tier.name());
    let width = spec.args.iter().map(|a| label(a).len()).max().unwrap_or(0);
    for a in spec.args {
        let _ = writeln!(
            out,
            "  {:width$}  {}{}: {}",
            label(a),
            a.kind.type_name(),
            detail(&a.kind),
            a.help
        );
    }
    out
}

fn label(a: &super::spec::Arg) -> String {
    match a.switch {
        Some(s) if a.kind == Kind::Flag => String::from(s),
        Some(s) => format!("{s} {}", a.name),
        None => String::from(a.name),
    }
}

fn detail(k: &Kind) -> String {
    match *k {
        Kind::Choice(c) => format!(" ({})", c.join("|")),
        Kind::Int { min, max } => format!(" ({min}..{max})"),
        Kind::Number { min, max } => format!(" ({min}..{max})"),
        Kind::Duration { min_ms, max_ms } => format!(
            " ({}..{}, e.g. 10s, 5m)",
            super::value::format_duration(min_ms),
            super::value::format_duration(max_ms)
        ),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::REGISTRY;
    use super::*;

    #[test]
    fn list_is_aligned_and_hides_test_commands() {
        let h = list(&REGISTRY, false);
        assert!(h.lines().any(|l| l.starts_with("  /help [command]")));
        assert!(!h.contains("test-fault"));
        assert!(list(&REGISTRY, true).contains("/test-fault"));
        let width = REGISTRY
            .visible(false)
            .map(|c| c.usage().len())
            .max()
            .unwrap();
        for (line, c) in h.lines().zip(REGISTRY.visible(false)) {
            assert_eq!(line.find(c.help), Some(width + 4), "{line}");
        }
    }

    #[test]
    fn one_command_in_detail() {
        let spec = REGISTRY.find("complete", false).unwrap();
        let h = command(spec);
        assert!(
            h.starts_with("/complete [--ids] [-n tokens] <text>\n"),
            "{h}"
        );
        assert!(h.contains("tier: read; typed by you only"), "{h}");
        assert!(h.contains("-n tokens  integer (1..4096): "), "{h}");
        assert!(h.contains("--ids      flag: "), "{h}");
        let h = command(REGISTRY.find("shutdown", false).unwrap());
        assert!(
            h.contains("tier: power;") && h.contains("always asks"),
            "{h}"
        );
    }
}

//! When the person's request says when ("every 10 minutes", "in 5
//! minutes", "2 hours from now") but the model's call runs the command
//! now, the call is scheduled as the person asked: `/mem` becomes
//! `/every 10m /mem`, `/shutdown` becomes `/after 10m /shutdown`.
//!
//! Qwen2.5-Coder-0.5B nearly always calls the inner command directly
//! ("Shut the machine down in 10 minutes" → `/shutdown`): run as written,
//! that would do now what the person wanted later. Calls that already
//! take a time (`/remind`, `/after`, `/every`) are left as they are.
//!
//! The same words give a reminder's text in the person's own words
//! ("ping me in ten minutes to check the oven" → "check the oven"), where
//! the model paraphrased or copied the whole request (see
//! [`trimmed_reminder`]).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use klib::registry::value::{format_duration, parse_duration};
use klib::registry::{Invocation, Kind, Registry};

/// When the person wants a command run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum When {
    /// Repeatedly, with this period (`10m`).
    Every(String),
    /// Once, after this delay.
    After(String),
}

const NUMBERS: &[(&str, u64)] = &[
    ("a", 1),
    ("an", 1),
    ("one", 1),
    ("two", 2),
    ("three", 3),
    ("four", 4),
    ("five", 5),
    ("six", 6),
    ("seven", 7),
    ("eight", 8),
    ("nine", 9),
    ("ten", 10),
    ("eleven", 11),
    ("twelve", 12),
    ("fifteen", 15),
    ("twenty", 20),
    ("thirty", 30),
    ("forty", 40),
    ("fifty", 50),
    ("sixty", 60),
    ("ninety", 90),
];

/// A unit word's suffix in a duration and how many of it make one unit.
fn unit(w: &str) -> Option<(&'static str, u64)> {
    Some(match w {
        "ms" | "millisecond" | "milliseconds" => ("ms", 1),
        "s" | "sec" | "secs" | "second" | "seconds" => ("s", 1),
        "m" | "min" | "mins" | "minute" | "minutes" => ("m", 1),
        "h" | "hr" | "hrs" | "hour" | "hours" => ("h", 1),
        "day" | "days" => ("h", 24),
        _ => return None,
    })
}

/// Whether word `w` (lower case) gives a length of time: a number word
/// other than `a`/`an`, a unit word longer than one letter, or `hundred`,
/// `half`, `quarter`, `couple` (the grounding of duration arguments uses
/// the same words as scheduling).
pub(crate) fn is_time_word(w: &str) -> bool {
    (w.len() > 2 && NUMBERS.iter().any(|(n, _)| *n == w))
        || (w.len() > 1 && unit(w).is_some())
        || matches!(w, "hundred" | "half" | "quarter" | "couple")
}

fn number(w: &str) -> Option<u64> {
    if !w.is_empty() && w.len() <= 6 && w.bytes().all(|b| b.is_ascii_digit()) {
        return w.parse().ok();
    }
    NUMBERS.iter().find(|(n, _)| *n == w).map(|&(_, v)| v)
}

/// The duration that starts at `words[i]`: `10 minutes`, `an hour`,
/// `10m`; for a period also a bare unit (`every hour`).
fn duration_at(words: &[&str], i: usize, bare_unit: bool) -> Option<String> {
    let w = *words.get(i)?;
    if let Some((u, k)) = unit(w).filter(|_| bare_unit) {
        return Some(format!("{k}{u}"));
    }
    if let Some(n) = number(w) {
        let (u, k) = unit(words.get(i + 1)?)?;
        return (n > 0).then(|| format!("{}{u}", n * k));
    }
    // `10m`, `30s`, `2h`.
    let split = w.find(|c: char| !c.is_ascii_digit())?;
    let n = number(&w[..split])?;
    let (u, k) = unit(&w[split..])?;
    (n > 0).then(|| format!("{}{u}", n * k))
}

/// How many of `words` from `i` the duration [`duration_at`] reads.
fn duration_len(words: &[&str], i: usize) -> usize {
    let two = number(words[i]).is_some() && words.get(i + 1).is_some_and(|w| unit(w).is_some());
    if two {
        2
    } else {
        1
    }
}

/// The words (start, end) of the phrase in `words` that says when, once,
/// after `ms` milliseconds: `in D`, `after D`, `D from now`, `D later`.
fn delay_phrase(words: &[&str], ms: u64) -> Option<(usize, usize)> {
    let is = |d: Option<String>| d.as_deref().and_then(parse_duration) == Some(ms);
    for (i, &w) in words.iter().enumerate() {
        match w {
            "in" | "after" if is(duration_at(words, i + 1, false)) => {
                return Some((i, i + 1 + duration_len(words, i + 1)));
            }
            "from" | "later" => {
                let end = if w == "from" {
                    if words.get(i + 1) != Some(&"now") {
                        continue;
                    }
                    i + 2
                } else {
                    i + 1
                };
                for start in [i.saturating_sub(2), i.saturating_sub(1)] {
                    if start < i
                        && start + duration_len(words, start) == i
                        && is(duration_at(words, start, false))
                    {
                        return Some((start, end));
                    }
                }
            }
            _ => {}
        }
    }
    None
}

/// A word as the reminder rules compare it: lower case, without the
/// punctuation around it.
fn norm_word(w: &str) -> String {
    w.trim_matches(|c: char| !c.is_alphanumeric())
        .to_lowercase()
}

/// Whether normalized words `a b` ask for a reminder: `remind me` (`ping`,
/// `tell`, `alert`, `notify`).
fn remind_me(a: &str, b: Option<&str>) -> bool {
    matches!(a, "remind" | "ping" | "tell" | "alert" | "notify") && b == Some("me")
}

/// A reminder's text without the request's own words when the model copied
/// them: a leading `remind me` (`ping`, `tell`, `alert`, `notify`), the
/// phrase that gives the call's own delay, and a `to`/`that`/`about` left
/// in front. `None` when there is nothing to trim or nothing would be
/// left. Another time in the text ("the pizza is done in 5 minutes", with
/// a 10-minute delay) stays.
pub fn reminder_text(text: &str, delay_ms: u64) -> Option<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let norm: Vec<String> = words.iter().map(|w| norm_word(w)).collect();
    let n: Vec<&str> = norm.iter().map(String::as_str).collect();
    let mut keep: Vec<bool> = alloc::vec![true; words.len()];
    let lead = usize::from(n.first() == Some(&"please"));
    if n.get(lead)
        .is_some_and(|&a| remind_me(a, n.get(lead + 1).copied()))
    {
        keep[..lead + 2].fill(false);
    }
    if let Some((a, b)) = delay_phrase(&n, delay_ms) {
        keep[a..b].fill(false);
    }
    if keep.iter().all(|&k| k) {
        return None;
    }
    let mut rest: Vec<usize> = (0..words.len()).filter(|&i| keep[i]).collect();
    while rest
        .first()
        .is_some_and(|&i| matches!(n[i], "to" | "that" | "about" | ""))
    {
        rest.remove(0);
    }
    let kept: Vec<&str> = rest.iter().map(|&i| words[i]).collect();
    let joined = kept.join(" ");
    let out = String::from(joined.trim_end_matches([',', ':', ';', ' ']));
    (!out.is_empty()).then_some(out)
}

/// What the person's `request` asks to be reminded of, in their own words:
/// the text after `remind me` (`ping`, `tell`, `alert`, `notify`),
/// trimmed by [`reminder_text`] ("In an hour remind me to call mom" →
/// "call mom"). `None` when the request has no such phrase, or when it
/// gives another delay than the call's `delay_ms` (its words would stay).
pub fn requested_reminder(request: &str, delay_ms: u64) -> Option<String> {
    let words: Vec<&str> = request.split_whitespace().collect();
    let start = (0..words.len().saturating_sub(1))
        .find(|&i| remind_me(&norm_word(words[i]), Some(&norm_word(words[i + 1]))))?;
    let phrase = words[start..].join(" ");
    let phrase = phrase.trim_end_matches(['.', '!', '?', ' ']);
    let n: Vec<String> = phrase.split_whitespace().map(norm_word).collect();
    let n: Vec<&str> = n.iter().map(String::as_str).collect();
    if when(phrase).is_some() && delay_phrase(&n, delay_ms).is_none() {
        return None;
    }
    reminder_text(phrase, delay_ms)
}

/// The `/remind` call `inv` with the text the person asked for
/// ([`requested_reminder`] of `request`, the current message), or else
/// its own text trimmed by [`reminder_text`]; `None` if that changes
/// nothing. (Qwen2.5-Coder-0.5B paraphrases: "Remind me in 5 minutes to
/// stretch" → "stretch your legs!", "In an hour remind me to call mom" →
/// "Call mom at 1 hour after the prompt.")
pub fn trimmed_reminder(reg: &Registry, inv: &Invocation, request: &str) -> Option<Invocation> {
    if inv.name() != "remind" {
        return None;
    }
    let delay = inv.spec.args.first()?.name;
    let ms = inv.millis(delay)?;
    let own = inv.str("text")?;
    let text = requested_reminder(request, ms)
        .filter(|t| t != own)
        .or_else(|| reminder_text(own, ms))?;
    reg.invocation(
        "remind",
        &[(delay, &format_duration(ms)), ("text", &text)],
        false,
    )
    .ok()
}

/// When `request` says to run something: `every D`, `in D`, `after D`,
/// `D from now`, `D later`.
pub fn when(request: &str) -> Option<When> {
    let lower = request.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    for (i, &w) in words.iter().enumerate() {
        match w {
            "every" | "each" => {
                if let Some(d) = duration_at(&words, i + 1, true) {
                    return Some(When::Every(d));
                }
            }
            "in" | "after" => {
                if let Some(d) = duration_at(&words, i + 1, false) {
                    return Some(When::After(d));
                }
            }
            "from" | "later" => {
                let now = w == "later" || words.get(i + 1) == Some(&"now");
                let start = i.saturating_sub(2);
                if now && i >= 2 {
                    if let Some(d) = duration_at(&words, start, false) {
                        return Some(When::After(d));
                    }
                }
            }
            _ => {}
        }
    }
    None
}

/// The call `inv` scheduled as `request` asks, if it asks for a time and
/// the call takes none: the `/every` or `/after` invocation, checked by
/// the registry like any other.
pub fn scheduled(reg: &Registry, inv: &Invocation, request: &str) -> Option<Invocation> {
    let takes_time = inv
        .spec
        .args
        .iter()
        .any(|a| matches!(a.kind, Kind::Duration { .. } | Kind::Command));
    if takes_time {
        return None;
    }
    let (name, d) = match when(request)? {
        When::Every(d) => ("every", d),
        When::After(d) => ("after", d),
    };
    let spec = reg.find_called(name)?;
    let time = spec.args.first()?.name;
    let line = inv.command_line();
    reg.invocation(name, &[(time, &d), ("command", &line)], false)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::call::parse_call;
    use klib::registry::REGISTRY;

    #[test]
    fn times_in_requests() {
        let every = |d: &str| Some(When::Every(d.into()));
        let after = |d: &str| Some(When::After(d.into()));
        assert_eq!(when("Show the memory every 10 minutes"), every("10m"));
        assert_eq!(when("Print the date every hour"), every("1h"));
        assert_eq!(when("Every 30 seconds, show the uptime"), every("30s"));
        assert_eq!(when("every day list the files"), every("24h"));
        assert_eq!(when("In 5 minutes, show the memory usage"), after("5m"));
        assert_eq!(when("Shut the machine down in 10 minutes"), after("10m"));
        assert_eq!(when("After 2 minutes, list the files"), after("2m"));
        assert_eq!(when("in an hour, reboot"), after("1h"));
        assert_eq!(when("two hours from now show the date"), after("2h"));
        assert_eq!(when("run /ps in 30s"), after("30s"));
        assert_eq!(when("What's in the drafts folder?"), None);
        assert_eq!(when("Show me what's in notes.txt"), None);
        assert_eq!(when("Every file in /drafts"), None);
        assert_eq!(when("in 0 minutes"), None);
        assert_eq!(when("Is it in the inbox?"), None);
    }

    #[test]
    fn copied_reminder_texts_are_trimmed_to_what_to_remind_of() {
        let t = |text: &str, ms: u64| reminder_text(text, ms);
        let min = 60_000;
        assert_eq!(
            t("ping me in ten minutes to check the oven", 10 * min).as_deref(),
            Some("check the oven")
        );
        assert_eq!(
            t("The meeting starts in 45 minutes.", 45 * min).as_deref(),
            Some("The meeting starts")
        );
        assert_eq!(
            t("Remind me to call mom in an hour", 60 * min).as_deref(),
            Some("call mom")
        );
        assert_eq!(
            t("take the laundry out 2 hours from now", 120 * min).as_deref(),
            Some("take the laundry out")
        );
        assert_eq!(
            t("please remind me that the tea is ready", 5 * min).as_deref(),
            Some("the tea is ready")
        );
        // Nothing copied, another time than the delay, or nothing left.
        assert_eq!(t("check the oven", 10 * min), None);
        assert_eq!(t("the pizza is done in 5 minutes", 10 * min), None);
        assert_eq!(t("remind me in 10m", 10 * min), None);
        // Through the registry: the call keeps its delay.
        let call = parse_call(
            &REGISTRY,
            r#"{"name": "remind", "arguments": {"delay": "10m", "text": "ping me in ten minutes to check the oven"}}"#,
        )
        .unwrap();
        assert_eq!(
            trimmed_reminder(&REGISTRY, &call, "")
                .map(|i| i.command_line())
                .as_deref(),
            Some("/remind 10m check the oven")
        );
        let mem = parse_call(&REGISTRY, r#"{"name": "mem", "arguments": {}}"#).unwrap();
        assert!(trimmed_reminder(&REGISTRY, &mem, "remind me in 5m to eat").is_none());
    }

    #[test]
    fn a_reminder_says_what_the_person_asked_in_their_words() {
        let min = 60_000;
        let r = |req: &str, ms: u64| requested_reminder(req, ms);
        assert_eq!(
            r("Remind me in 5 minutes to stretch", 5 * min).as_deref(),
            Some("stretch")
        );
        assert_eq!(
            r("In an hour remind me to call mom.", 60 * min).as_deref(),
            Some("call mom")
        );
        assert_eq!(
            r("ping me in ten minutes to check the oven!", 10 * min).as_deref(),
            Some("check the oven")
        );
        assert_eq!(
            r("remind me in 5 minutes: tea", 5 * min).as_deref(),
            Some("tea")
        );
        // No reminder phrase, nothing after it, or another delay.
        assert_eq!(r("Set a timer for 5 minutes", 5 * min), None);
        assert_eq!(r("remind me in 10m", 10 * min), None);
        assert_eq!(r("remind me in 10 minutes to eat", 5 * min), None);
        // Through the registry: the model's paraphrase gives way.
        let call = |j: &str| parse_call(&REGISTRY, j).unwrap();
        let line = |inv: &Invocation, req: &str| {
            trimmed_reminder(&REGISTRY, inv, req).map(|i| i.command_line())
        };
        let legs = call(
            r#"{"name": "remind", "arguments": {"delay": "5m", "text": "stretch your legs!"}}"#,
        );
        assert_eq!(
            line(&legs, "Remind me in 5 minutes to stretch").as_deref(),
            Some("/remind 5m stretch")
        );
        // A request in other words keeps the model's text.
        assert_eq!(line(&legs, "5 minutes, then tell the legs"), None);
        let same = call(r#"{"name": "remind", "arguments": {"delay": "5m", "text": "stretch"}}"#);
        assert_eq!(line(&same, "Remind me in 5 minutes to stretch"), None);
    }

    #[test]
    fn calls_are_scheduled_as_asked() {
        let call = |j: &str| parse_call(&REGISTRY, j).unwrap();
        let mem = call(r#"{"name": "mem", "arguments": {}}"#);
        let line = |r: &str| scheduled(&REGISTRY, &mem, r).map(|i| i.command_line());
        assert_eq!(
            line("Show the memory every 10 minutes").as_deref(),
            Some("/every 10m /mem")
        );
        assert_eq!(
            line("In 5 minutes, show the memory usage").as_deref(),
            Some("/after 5m /mem")
        );
        assert_eq!(line("How much memory is free?"), None);
        let off = call(r#"{"name": "shutdown", "arguments": {}}"#);
        assert_eq!(
            scheduled(&REGISTRY, &off, "Shut the machine down in 10 minutes")
                .map(|i| i.command_line())
                .as_deref(),
            Some("/after 10m /shutdown")
        );
        // Calls that take a time already are left alone.
        let remind = call(r#"{"name": "remind", "arguments": {"delay": "5m", "text": "tea"}}"#);
        assert_eq!(
            scheduled(&REGISTRY, &remind, "remind me in 5 minutes: tea"),
            None
        );
        let every = call(r#"{"name": "every", "arguments": {"period": "10s", "command": "/mem"}}"#);
        assert_eq!(scheduled(&REGISTRY, &every, "every 10 seconds /mem"), None);
        // A period below the registry's minimum is refused, not scheduled.
        assert_eq!(line("every 5 ms show memory"), None);
    }
}

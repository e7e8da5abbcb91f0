//! Argument values: each kind's text form checked and converted, the same
//! way whether the person typed it or the model wrote it in a call.

use super::spec::Kind;
use alloc::format;
use alloc::string::{String, ToString};

/// The longest path or word accepted (the filesystem has its own, tighter
/// rules per name).
pub const MAX_WORD: usize = 1024;

/// A checked argument value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Path, word, choice, text or command line.
    Str(String),
    Int(u64),
    Num(f64),
    /// A duration in milliseconds.
    Millis(u64),
    /// A flag.
    Bool(bool),
}

impl Value {
    /// The value as the person would type it (no quoting).
    pub fn to_text(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            Value::Int(n) => n.to_string(),
            Value::Num(x) => format!("{x}"),
            Value::Millis(ms) => format_duration(*ms),
            Value::Bool(b) => b.to_string(),
        }
    }
}

/// A duration in the shortest exact form: `1h`, `90s`, `500ms`.
pub fn format_duration(ms: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("h", 3_600_000), ("m", 60_000), ("s", 1000)];
    for (unit, size) in UNITS {
        if ms > 0 && ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// Parses `500ms`, `5s`, `2m`, `1h` into milliseconds.
pub fn parse_duration(s: &str) -> Option<u64> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 12 {
        return None;
    }
    let (num, unit) = s.split_at(digits);
    let n: u64 = num.parse().ok()?;
    let scale = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    n.checked_mul(scale)
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

impl Kind {
    /// Checks the text form of a value of this kind and converts it. The
    /// error is a phrase for "`name`: ..." messages.
    pub fn parse_value(&self, raw: &str) -> Result<Value, String> {
        match *self {
            Kind::Path | Kind::Word => {
                if raw.is_empty() {
                    Err("must not be empty".into())
                } else if raw.len() > MAX_WORD {
                    Err(format!("is longer than {MAX_WORD} bytes"))
                } else if has_control(raw) {
                    Err("must not contain control characters".into())
                } else if *self == Kind::Word && raw.contains(char::is_whitespace) {
                    Err("must be one word".into())
                } else {
                    Ok(Value::Str(raw.into()))
                }
            }
            Kind::Choice(choices) => {
                if choices.contains(&raw) {
                    Ok(Value::Str(raw.into()))
                } else {
                    Err(format!(
                        "must be one of {}, not {raw:?}",
                        choices.join(", ")
                    ))
                }
            }
            Kind::Int { min, max } => match raw.parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(Value::Int(n)),
                _ => Err(format!(
                    "must be a whole number from {min} to {max}, not {raw:?}"
                )),
            },
            Kind::Number { min, max } => match raw.parse::<f64>() {
                Ok(x) if x.is_finite() && x >= min && x <= max => Ok(Value::Num(x)),
                _ => Err(format!("must be a number from {min} to {max}, not {raw:?}")),
            },
            Kind::Duration { min_ms, max_ms } => match parse_duration(raw) {
                Some(ms) if (min_ms..=max_ms).contains(&ms) => Ok(Value::Millis(ms)),
                Some(_) => Err(format!(
                    "must be from {} to {}, not {raw}",
                    format_duration(min_ms),
                    format_duration(max_ms)
                )),
                None => Err(format!(
                    "must be a duration like 500ms, 10s, 5m or 1h, not {raw:?}"
                )),
            },
            Kind::Flag => match raw {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                _ => Err(format!("must be true or false, not {raw:?}")),
            },
            Kind::Text | Kind::Command => {
                if raw.trim().is_empty() {
                    Err("must not be empty".into())
                } else {
                    Ok(Value::Str(raw.into()))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Some(500));
        assert_eq!(parse_duration("5s"), Some(5000));
        assert_eq!(parse_duration("2m"), Some(120_000));
        assert_eq!(parse_duration("1h"), Some(3_600_000));
        for bad in ["", "s", "5", "5x", "-5s", "5 s", "1.5s", "99999999999999h"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        assert_eq!(format_duration(3_600_000), "1h");
        assert_eq!(format_duration(90_000), "90s");
        assert_eq!(format_duration(1500), "1500ms");
        assert_eq!(format_duration(0), "0ms");
    }

    #[test]
    fn kinds_check_their_values() {
        let int = Kind::Int { min: 1, max: 10 };
        assert_eq!(int.parse_value("3"), Ok(Value::Int(3)));
        assert!(int.parse_value("0").is_err());
        assert!(int.parse_value("11").is_err());
        assert!(int.parse_value("-1").is_err());
        let d = Kind::Duration {
            min_ms: 100,
            max_ms: 86_400_000,
        };
        assert_eq!(d.parse_value("10m"), Ok(Value::Millis(600_000)));
        assert!(d
            .parse_value("50ms")
            .unwrap_err()
            .contains("from 100ms to 24h"));
        assert!(d.parse_value("soon").is_err());
        let c = Kind::Choice(&["on", "off"]);
        assert_eq!(c.parse_value("on"), Ok(Value::Str("on".into())));
        assert!(c.parse_value("ON").is_err());
        assert!(Kind::Word.parse_value("a b").is_err());
        assert!(Kind::Path.parse_value("a\u{7}b").is_err());
        assert!(Kind::Path.parse_value("my file.txt").is_ok());
        assert!(Kind::Text.parse_value("  ").is_err());
        let n = Kind::Number { min: 0.0, max: 5.0 };
        assert_eq!(n.parse_value("0.7"), Ok(Value::Num(0.7)));
        assert!(n.parse_value("NaN").is_err());
        assert!(n.parse_value("inf").is_err());
    }
}

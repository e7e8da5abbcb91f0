//! Parsing the arguments of the chat commands (`/temp T`, `/top-p P`,
//! `/seed S`, `/complete [-n N] TEXT`), shared by the kernel's command
//! handlers and the host `model-loader chat`. Every error is a message for
//! the console.

use alloc::format;
use alloc::string::String;

/// Tokens `/complete` generates when `-n` is not given.
pub const DEFAULT_COMPLETE_TOKENS: usize = 32;
/// The largest `-n` accepted.
pub const MAX_COMPLETE_TOKENS: usize = 4096;
/// The largest temperature accepted.
pub const MAX_TEMPERATURE: f32 = 5.0;

/// `T` of `/temp T`: a number from 0 (greedy) to [`MAX_TEMPERATURE`].
pub fn temperature(arg: &str) -> Result<f32, String> {
    match arg.trim().parse::<f32>() {
        Ok(t) if (0.0..=MAX_TEMPERATURE).contains(&t) => Ok(t),
        _ => Err(format!(
            "temperature must be a number from 0 (greedy) to {MAX_TEMPERATURE}, not {:?}",
            arg.trim()
        )),
    }
}

/// `P` of `/top-p P`: a number in (0, 1].
pub fn top_p(arg: &str) -> Result<f32, String> {
    match arg.trim().parse::<f32>() {
        Ok(p) if p > 0.0 && p <= 1.0 => Ok(p),
        _ => Err(format!(
            "top-p must be a number greater than 0 and at most 1, not {:?}",
            arg.trim()
        )),
    }
}

/// `S` of `/seed S`: an unsigned 64-bit integer.
pub fn seed(arg: &str) -> Result<u64, String> {
    arg.trim().parse::<u64>().map_err(|_| {
        format!(
            "seed must be a whole number from 0 to {}, not {:?}",
            u64::MAX,
            arg.trim()
        )
    })
}

/// `/complete [-n N] TEXT`: the token count and the text (the rest of the
/// line after `-n N`, with its inner spacing kept).
pub fn complete(arg: &str) -> Result<(usize, &str), String> {
    let arg = arg.trim_start();
    let (n, text) = match arg.strip_prefix("-n") {
        Some(rest) if rest.starts_with(char::is_whitespace) || rest.is_empty() => {
            let rest = rest.trim_start();
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let (num, text) = rest.split_at(end);
            let n = match num.parse::<usize>() {
                Ok(n) if (1..=MAX_COMPLETE_TOKENS).contains(&n) => n,
                _ => {
                    return Err(format!(
                        "-n needs a token count from 1 to {MAX_COMPLETE_TOKENS}, not {num:?}"
                    ))
                }
            };
            // One separating space; the rest of the text is kept as typed.
            let text = text.strip_prefix(char::is_whitespace).unwrap_or(text);
            (n, text)
        }
        _ => (DEFAULT_COMPLETE_TOKENS, arg),
    };
    if text.is_empty() {
        return Err("usage: /complete [-n N] TEXT".into());
    }
    Ok((n, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_args() {
        assert_eq!(complete("-n 5 Hello  world"), Ok((5, "Hello  world")));
        assert_eq!(complete("Hello"), Ok((DEFAULT_COMPLETE_TOKENS, "Hello")));
        assert_eq!(complete("-n 3  two spaces"), Ok((3, " two spaces")));
        assert_eq!(complete("-nope"), Ok((DEFAULT_COMPLETE_TOKENS, "-nope")));
        for bad in [
            "",
            "-n",
            "-n 5",
            "-n x hi",
            "-n 0 hi",
            "-n 99999 hi",
            "-n -1 hi",
        ] {
            assert!(complete(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(temperature(" 0.7 "), Ok(0.7));
        assert_eq!(temperature("0"), Ok(0.0));
        for bad in ["-1", "NaN", "inf", "6", "", "warm"] {
            assert!(temperature(bad).is_err(), "{bad:?}");
        }
        assert_eq!(top_p("1"), Ok(1.0));
        for bad in ["0", "1.5", "NaN", "x"] {
            assert!(top_p(bad).is_err(), "{bad:?}");
        }
        assert_eq!(seed("42"), Ok(42));
        assert!(seed("-3").is_err());
        assert!(seed("18446744073709551616").is_err());
    }
}

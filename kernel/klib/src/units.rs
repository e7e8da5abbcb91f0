//! Human-readable sizes and durations.

use core::fmt;

pub const KIB: u64 = 1 << 10;
pub const MIB: u64 = 1 << 20;
pub const GIB: u64 = 1 << 30;

/// A byte count printed with a binary unit: `512 B`, `4.0 KiB`, `1023.6 MiB`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bytes(pub u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        let (unit, div) = if b >= GIB {
            ("GiB", GIB)
        } else if b >= MIB {
            ("MiB", MIB)
        } else if b >= KIB {
            ("KiB", KIB)
        } else {
            return write!(f, "{b} B");
        };
        // One decimal, computed in integers (rounded down).
        let tenths = b * 10 / div;
        write!(f, "{}.{} {unit}", tenths / 10, tenths % 10)
    }
}

/// Parses a size such as `1G`, `512M`, `2GiB`, `4096` (bytes) into bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(digits_end);
    let n: u64 = num.parse().ok()?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => KIB,
        "m" | "mb" | "mib" => MIB,
        "g" | "gb" | "gib" => GIB,
        _ => return None,
    };
    n.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn formats() {
        assert_eq!(Bytes(512).to_string(), "512 B");
        assert_eq!(Bytes(4096).to_string(), "4.0 KiB");
        assert_eq!(Bytes(1023 * MIB + 600 * KIB).to_string(), "1023.5 MiB");
        assert_eq!(Bytes(2 * GIB).to_string(), "2.0 GiB");
    }

    #[test]
    fn parses() {
        assert_eq!(parse_size("1G"), Some(GIB));
        assert_eq!(parse_size("512M"), Some(512 * MIB));
        assert_eq!(parse_size("2GiB"), Some(2 * GIB));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("12X"), None);
        assert_eq!(parse_size("G"), None);
    }
}

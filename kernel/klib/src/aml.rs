//! Just enough AML to power off: finds `Name(_S5_, Package() { a, b, ... })`
//! in a DSDT body and returns the sleep types for PM1a/PM1b.
//!
//! A full AML interpreter is not needed for this: every firmware we know of
//! (SeaBIOS, OVMF, PC vendors) declares `_S5_` as a plain named package.

/// `SLP_TYPa` and `SLP_TYPb` for the S5 (soft off) state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SleepTypes {
    pub a: u8,
    pub b: u8,
}

const NAME_OP: u8 = 0x08;
const PACKAGE_OP: u8 = 0x12;
const ZERO_OP: u8 = 0x00;
const ONE_OP: u8 = 0x01;
const BYTE_PREFIX: u8 = 0x0a;
const WORD_PREFIX: u8 = 0x0b;
const DWORD_PREFIX: u8 = 0x0c;

/// Searches `aml` (the table body after its 36-byte header, or the whole
/// table) for the `_S5_` package.
pub fn find_s5(aml: &[u8]) -> Option<SleepTypes> {
    let mut from = 0;
    while let Some(pos) = find(&aml[from..], b"_S5_").map(|p| p + from) {
        from = pos + 1;
        // `NameOp _S5_` or `NameOp \_S5_`.
        let named = (pos >= 1 && aml[pos - 1] == NAME_OP)
            || (pos >= 2 && aml[pos - 1] == b'\\' && aml[pos - 2] == NAME_OP);
        if !named {
            continue;
        }
        if let Some(t) = parse_package(&aml[pos + 4..]) {
            return Some(t);
        }
    }
    None
}

fn parse_package(b: &[u8]) -> Option<SleepTypes> {
    let (&op, rest) = b.split_first()?;
    if op != PACKAGE_OP {
        return None;
    }
    // PkgLength: the top two bits of the lead byte count the extra bytes.
    let lead = *rest.first()?;
    let extra = (lead >> 6) as usize;
    let rest = rest.get(1 + extra..)?;
    let (&num_elements, mut rest) = rest.split_first()?;
    if num_elements < 1 {
        return None;
    }
    let a = integer(&mut rest)?;
    // Some tables give only SLP_TYPa; SLP_TYPb then defaults to it.
    let b = if num_elements >= 2 {
        integer(&mut rest).unwrap_or(a)
    } else {
        a
    };
    Some(SleepTypes { a, b })
}

/// Reads one integer term and advances `b`. Sleep types are 3 bits wide, so
/// only the low byte matters.
fn integer(b: &mut &[u8]) -> Option<u8> {
    let (&op, rest) = b.split_first()?;
    let (value, len) = match op {
        ZERO_OP => (0, 0),
        ONE_OP => (1, 0),
        BYTE_PREFIX => (*rest.first()?, 1),
        WORD_PREFIX => (*rest.first()?, 2),
        DWORD_PREFIX => (*rest.first()?, 4),
        _ => return None,
    };
    *b = rest.get(len..)?;
    Some(value)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seabios_piix_style_zero_ops() {
        // Name (_S5, Package (0x04) { Zero, Zero, Zero, Zero })
        let aml = [
            0x10, 0x20, b'\\', b'_', b'S', b'B', NAME_OP, b'_', b'S', b'5', b'_', PACKAGE_OP, 0x06,
            0x04, 0x00, 0x00, 0x00, 0x00,
        ];
        assert_eq!(find_s5(&aml), Some(SleepTypes { a: 0, b: 0 }));
    }

    #[test]
    fn byte_prefixed_values_and_rooted_name() {
        // Name (\_S5, Package (0x02) { 0x05, 0x05 })
        let aml = [
            NAME_OP,
            b'\\',
            b'_',
            b'S',
            b'5',
            b'_',
            PACKAGE_OP,
            0x07,
            0x02,
            BYTE_PREFIX,
            0x05,
            BYTE_PREFIX,
            0x05,
        ];
        assert_eq!(find_s5(&aml), Some(SleepTypes { a: 5, b: 5 }));
    }

    #[test]
    fn skips_references_that_are_not_definitions() {
        // A method referencing _S5_ first, then the real definition with a
        // two-byte PkgLength.
        let aml = [
            0x70, b'_', b'S', b'5', b'_', 0x60, // Store (_S5_, Local0)
            NAME_OP, b'_', b'S', b'5', b'_', PACKAGE_OP, 0x40, 0x00, 0x04, ONE_OP, ZERO_OP, 0, 0,
        ];
        assert_eq!(find_s5(&aml), Some(SleepTypes { a: 1, b: 0 }));
    }

    #[test]
    fn garbage_and_truncation_give_none() {
        assert_eq!(find_s5(&[]), None);
        assert_eq!(find_s5(b"no sleep states here"), None);
        assert_eq!(find_s5(&[NAME_OP, b'_', b'S', b'5', b'_']), None);
        assert_eq!(
            find_s5(&[NAME_OP, b'_', b'S', b'5', b'_', PACKAGE_OP]),
            None
        );
        assert_eq!(
            find_s5(&[NAME_OP, b'_', b'S', b'5', b'_', PACKAGE_OP, 0xc0, 1]),
            None
        );
        assert_eq!(
            find_s5(&[NAME_OP, b'_', b'S', b'5', b'_', PACKAGE_OP, 3, 1, 0x99]),
            None
        );
    }
}

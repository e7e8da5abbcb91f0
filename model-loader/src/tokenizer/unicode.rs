//! Unicode code point classes as llama.cpp's tokenizer sees them: the
//! general category (from `unicode_tables.rs`, Unicode 15.1 like llama.cpp)
//! and llama.cpp's whitespace set. Also the GPT-2 byte <-> character mapping
//! of byte-level BPE vocabularies.

use super::unicode_tables::RANGES;

/// General category of a code point (one per code point).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// Unassigned (Cn), or beyond U+10FFFF.
    Undefined = 0,
    Number = 1,
    Letter = 2,
    Separator = 3,
    Mark = 4,
    Punctuation = 5,
    Symbol = 6,
    /// Cc, Cf, Co, Cs.
    Control = 7,
}

const CATEGORIES: [Category; 8] = [
    Category::Undefined,
    Category::Number,
    Category::Letter,
    Category::Separator,
    Category::Mark,
    Category::Punctuation,
    Category::Symbol,
    Category::Control,
];

/// The general category of `cp`.
pub fn category(cp: u32) -> Category {
    if cp >= 0x11_0000 {
        return Category::Undefined;
    }
    // The last range starting at or before `cp`.
    let key = cp << 3 | 7;
    let i = RANGES.partition_point(|&r| r <= key);
    // RANGES[0] starts at 0, so i >= 1.
    CATEGORIES[(RANGES[i.saturating_sub(1)] & 7) as usize]
}

/// llama.cpp's whitespace set (`\s` of Python's regex module).
pub fn is_whitespace(cp: u32) -> bool {
    matches!(
        cp,
        0x09..=0x0D
            | 0x20
            | 0x85
            | 0xA0
            | 0x1680
            | 0x2000..=0x200A
            | 0x2028
            | 0x2029
            | 0x202F
            | 0x205F
            | 0x3000
    )
}

/// The coarse class pre-tokenizer patterns test: `\s`, `\p{L}`, `\p{N}` or
/// anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Space,
    Letter,
    Number,
    Other,
}

/// The class of `cp`. Whitespace wins over the category (as in llama.cpp,
/// where no whitespace code point is a letter or number anyway).
pub fn class(cp: u32) -> Class {
    if cp < 0x80 {
        let b = cp as u8;
        return if b.is_ascii_alphabetic() {
            Class::Letter
        } else if b.is_ascii_digit() {
            Class::Number
        } else if matches!(b, b' ' | b'\t'..=b'\r') {
            Class::Space
        } else {
            Class::Other
        };
    }
    if is_whitespace(cp) {
        return Class::Space;
    }
    match category(cp) {
        Category::Letter => Class::Letter,
        Category::Number => Class::Number,
        _ => Class::Other,
    }
}

/// `[\p{P}\$\+<=>\^~\|]` as llama.cpp evaluates it for the `default` BPE
/// pre-tokenizer (on its collapsed text: ASCII by an explicit list, which
/// leaves out only the backtick, the rest by category).
pub fn is_default_punct(cp: u32) -> bool {
    if cp < 0x80 {
        let b = cp as u8;
        return b.is_ascii_punctuation() && b != b'`';
    }
    !is_whitespace(cp) && category(cp) == Category::Punctuation
}

/// Decodes UTF-8 into code points with their byte offsets. `text` is a
/// `&str`, so it is valid.
pub fn code_points(text: &str, out: &mut alloc::vec::Vec<(u32, u32)>) {
    out.clear();
    out.extend(text.char_indices().map(|(i, c)| (c as u32, i as u32)));
}

/// The character GPT-2's byte-level BPE uses for byte `b`: printable Latin-1
/// bytes stand for themselves, the others are shifted to U+0100.. in order.
pub fn byte_to_char(b: u8) -> char {
    let printable = |x: u8| matches!(x, 0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF);
    if printable(b) {
        return b as char;
    }
    let n = (0..b).filter(|&x| !printable(x)).count() as u32;
    char::from_u32(0x100 + n).unwrap_or('\u{FFFD}')
}

/// The inverse of [`byte_to_char`]: None for characters no byte maps to.
pub fn char_to_byte(c: char) -> Option<u8> {
    let cp = c as u32;
    match cp {
        0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF => Some(cp as u8),
        0x100..=0x143 => {
            let n = cp - 0x100;
            (0u8..=255)
                .filter(|&x| !matches!(x, 0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF))
                .nth(n as usize)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories() {
        assert_eq!(category('a' as u32), Category::Letter);
        assert_eq!(category('Ä' as u32), Category::Letter);
        assert_eq!(category('½' as u32), Category::Number);
        assert_eq!(category('٣' as u32), Category::Number);
        assert_eq!(category(' ' as u32), Category::Separator);
        assert_eq!(category(0x301), Category::Mark);
        assert_eq!(category('!' as u32), Category::Punctuation);
        assert_eq!(category('$' as u32), Category::Symbol);
        assert_eq!(category('🦙' as u32), Category::Symbol);
        assert_eq!(category(0), Category::Control);
        assert_eq!(category(0x378), Category::Undefined);
        assert_eq!(category(0x10_FFFF), Category::Undefined);
        assert_eq!(category(0x20_0000), Category::Undefined);
        assert_eq!(category('我' as u32), Category::Letter);
    }

    #[test]
    fn classes() {
        assert_eq!(class('\u{3000}' as u32), Class::Space);
        assert_eq!(class(0x85), Class::Space);
        assert_eq!(class(0x1C), Class::Other);
        assert_eq!(class('\x0B' as u32), Class::Space);
        assert_eq!(class('é' as u32), Class::Letter);
        assert!(is_default_punct('!' as u32));
        assert!(is_default_punct('$' as u32));
        assert!(!is_default_punct('`' as u32));
        assert!(is_default_punct('。' as u32));
        assert!(!is_default_punct('€' as u32));
    }

    #[test]
    fn byte_mapping_is_a_bijection() {
        let mut seen = alloc::vec::Vec::new();
        for b in 0..=255u8 {
            let c = byte_to_char(b);
            assert_eq!(char_to_byte(c), Some(b), "byte {b}");
            assert!(!seen.contains(&c));
            seen.push(c);
        }
        assert_eq!(byte_to_char(b' '), 'Ġ');
        assert_eq!(byte_to_char(b'\n'), 'Ċ');
        assert_eq!(char_to_byte('€'), None);
    }
}

//! Pre-tokenizers of byte-level BPE: split text into words before merging,
//! exactly as llama.cpp's `unicode_regex_split` does for each `pre` type,
//! with hand-written matchers instead of a regex engine.
//!
//! llama.cpp applies a list of regexes in turn; each splits every segment
//! left by the previous one (text between matches stays a segment). The
//! regexes, by pre-tokenizer:
//!
//! * `gpt2`: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`
//! * `smollm`: `\p{N}`, then the gpt2 regex.
//! * `qwen2`: `(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
//! * `default`: `[\p{P}\$\+<=>\^~\|]+`, the gpt2 regex, `\p{N}+`, `[0-9][0-9][0-9]`.
//!
//! Everything is linear in the text length.

use alloc::vec::Vec;

use super::unicode::{self, Class};

/// A pre-tokenizer of the byte-level BPE (`gpt2`) tokenizer model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreTokenizer {
    Gpt2,
    Qwen2,
    Smollm,
    Default,
}

impl PreTokenizer {
    /// The pre-tokenizer for `tokenizer.ggml.pre` (llama.cpp's names that
    /// use the same regexes are accepted too).
    pub fn from_name(name: &str) -> Option<PreTokenizer> {
        Some(match name {
            "" | "default" => PreTokenizer::Default,
            "gpt-2" | "gpt2" | "phi-2" | "mpt" | "olmo" => PreTokenizer::Gpt2,
            "qwen2" | "deepseek-r1-qwen" | "stablelm2" | "megrez" => PreTokenizer::Qwen2,
            "smollm" | "starcoder" | "refact" | "codeshell" => PreTokenizer::Smollm,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            PreTokenizer::Gpt2 => "gpt2",
            PreTokenizer::Qwen2 => "qwen2",
            PreTokenizer::Smollm => "smollm",
            PreTokenizer::Default => "default",
        }
    }
}

/// Reusable buffers for [`split`].
#[derive(Default)]
pub struct Scratch {
    cps: Vec<(u32, u32)>,
    cls: Vec<Class>,
    a: Vec<(usize, usize)>,
    b: Vec<(usize, usize)>,
}

/// Splits `text` into words; appends their byte ranges to `out`.
pub fn split(pre: PreTokenizer, text: &str, s: &mut Scratch, out: &mut Vec<(usize, usize)>) {
    if text.is_empty() {
        return;
    }
    unicode::code_points(text, &mut s.cps);
    s.cls.clear();
    s.cls.extend(s.cps.iter().map(|&(c, _)| unicode::class(c)));
    let t = Text {
        cps: &s.cps,
        cls: &s.cls,
    };
    let (cur, next) = (&mut s.a, &mut s.b);
    cur.clear();
    cur.push((0, t.cps.len()));
    let pass = |f: &dyn Fn(&Text<'_>, usize, usize, &mut Vec<(usize, usize)>),
                cur: &mut Vec<(usize, usize)>,
                next: &mut Vec<(usize, usize)>| {
        next.clear();
        for &(a, b) in cur.iter() {
            f(&t, a, b, next);
        }
        core::mem::swap(cur, next);
    };
    match pre {
        PreTokenizer::Gpt2 => pass(&gpt2, cur, next),
        PreTokenizer::Smollm => {
            pass(
                &|t, a, b, o| isolate(t, a, b, o, |_, cl| cl == Class::Number),
                cur,
                next,
            );
            pass(&gpt2, cur, next);
        }
        PreTokenizer::Qwen2 => pass(&|t, a, b, o| qwen2(t, a, b, o, 1), cur, next),
        PreTokenizer::Default => {
            let punct = |c: u32, _| unicode::is_default_punct(c);
            pass(&|t, a, b, o| runs(t, a, b, o, punct), cur, next);
            pass(&gpt2, cur, next);
            pass(
                &|t, a, b, o| runs(t, a, b, o, |_, cl| cl == Class::Number),
                cur,
                next,
            );
            pass(&ascii_digit_triples, cur, next);
        }
    }
    let byte = |i: usize| {
        if i < t.cps.len() {
            t.cps[i].1 as usize
        } else {
            text.len()
        }
    };
    out.extend(cur.iter().map(|&(a, b)| (byte(a), byte(b))));
}

/// The code points of the text with their classes.
struct Text<'a> {
    cps: &'a [(u32, u32)],
    cls: &'a [Class],
}

impl Text<'_> {
    fn cp(&self, i: usize) -> u32 {
        self.cps[i].0
    }
}

/// Pushes the segment `[start, end)` if it is not empty.
fn push(out: &mut Vec<(usize, usize)>, start: usize, end: usize) {
    if end > start {
        out.push((start, end));
    }
}

fn is_contraction(t: &Text<'_>, pos: usize, end: usize, ignore_case: bool) -> usize {
    if t.cp(pos) != '\'' as u32 || pos + 1 >= end {
        return 0;
    }
    let low = |c: u32| {
        if ignore_case && (b'A' as u32..=b'Z' as u32).contains(&c) {
            c + 32
        } else {
            c
        }
    };
    let n = low(t.cp(pos + 1));
    if [b's', b't', b'm', b'd'].iter().any(|&x| n == x as u32) {
        return 2;
    }
    if pos + 2 < end {
        let nn = low(t.cp(pos + 2));
        let pair = |a: u8, b: u8| n == a as u32 && nn == b as u32;
        if pair(b'r', b'e') || pair(b'v', b'e') || pair(b'l', b'l') {
            return 3;
        }
    }
    0
}

/// The gpt2 regex (llama.cpp's `unicode_regex_split_custom_gpt2`).
fn gpt2(t: &Text<'_>, start: usize, end: usize, out: &mut Vec<(usize, usize)>) {
    let cls = |p: usize| if p < end { Some(t.cls[p]) } else { None };
    let mut pos = start;
    while pos < end {
        let n = is_contraction(t, pos, end, false);
        if n > 0 {
            push(out, pos, pos + n);
            pos += n;
            continue;
        }
        let is_space = t.cp(pos) == ' ' as u32;
        let c2 = if is_space { cls(pos + 1) } else { cls(pos) };
        if let Some(c2 @ (Class::Letter | Class::Number | Class::Other)) = c2 {
            // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`
            let s = pos;
            pos += is_space as usize;
            while cls(pos) == Some(c2) {
                pos += 1;
            }
            push(out, s, pos);
            continue;
        }
        let mut n_ws = 0;
        while cls(pos + n_ws) == Some(Class::Space) {
            n_ws += 1;
        }
        if n_ws > 1 && pos + n_ws < end {
            // `\s+(?!\S)`: the run but its last space
            push(out, pos, pos + n_ws - 1);
            pos += n_ws - 1;
        } else if n_ws > 0 {
            push(out, pos, pos + n_ws);
            pos += n_ws;
        } else {
            push(out, pos, pos + 1);
            pos += 1;
        }
    }
}

/// The qwen2 regex (llama3's with `\p{N}{1,max_digits}`), with the
/// semantics of an ECMAScript regex (llama.cpp runs it with `std::regex`).
fn qwen2(t: &Text<'_>, start: usize, end: usize, out: &mut Vec<(usize, usize)>, max_digits: usize) {
    let cls = |p: usize| if p < end { Some(t.cls[p]) } else { None };
    let is_nl = |p: usize| p < end && matches!(t.cp(p), 0x0A | 0x0D);
    let mut pos = start;
    while pos < end {
        let c = t.cp(pos);
        let cl = t.cls[pos];
        // (?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])
        let n = is_contraction(t, pos, end, true);
        if n > 0 {
            push(out, pos, pos + n);
            pos += n;
            continue;
        }
        // [^\r\n\p{L}\p{N}]?\p{L}+
        let lead = !is_nl(pos) && matches!(cl, Class::Space | Class::Other);
        if cl == Class::Letter || (lead && cls(pos + 1) == Some(Class::Letter)) {
            let s = pos;
            pos += 1;
            while cls(pos) == Some(Class::Letter) {
                pos += 1;
            }
            push(out, s, pos);
            continue;
        }
        // \p{N}{1,max}
        if cl == Class::Number {
            let s = pos;
            while pos - s < max_digits && cls(pos) == Some(Class::Number) {
                pos += 1;
            }
            push(out, s, pos);
            continue;
        }
        //  ?[^\s\p{L}\p{N}]+[\r\n]*
        let p = if c == ' ' as u32 { pos + 1 } else { pos };
        if cls(p) == Some(Class::Other) {
            let s = pos;
            pos = p;
            while cls(pos) == Some(Class::Other) {
                pos += 1;
            }
            while is_nl(pos) {
                pos += 1;
            }
            push(out, s, pos);
            continue;
        }
        // Only whitespace is left here.
        let s = pos;
        let mut run_end = pos;
        let mut last_nl = None;
        while cls(run_end) == Some(Class::Space) {
            if is_nl(run_end) {
                last_nl = Some(run_end);
            }
            run_end += 1;
        }
        pos = if let Some(nl) = last_nl {
            // \s*[\r\n]+
            nl + 1
        } else if run_end == end || run_end - s < 2 {
            // \s+(?!\S) at the end, or \s+
            run_end.max(s + 1)
        } else {
            // \s+(?!\S): leave the last space for the next word
            run_end - 1
        };
        push(out, s, pos);
    }
}

/// A one-character regex (`\p{N}`): every matching character is a segment,
/// and so is every run of characters between them.
fn isolate(
    t: &Text<'_>,
    start: usize,
    end: usize,
    out: &mut Vec<(usize, usize)>,
    f: impl Fn(u32, Class) -> bool,
) {
    let mut gap = start;
    for p in start..end {
        if f(t.cp(p), t.cls[p]) {
            push(out, gap, p);
            push(out, p, p + 1);
            gap = p + 1;
        }
    }
    push(out, gap, end);
}

/// A `[...]+` regex: runs of matching characters and the runs between them.
fn runs(
    t: &Text<'_>,
    start: usize,
    end: usize,
    out: &mut Vec<(usize, usize)>,
    f: impl Fn(u32, Class) -> bool,
) {
    let mut p = start;
    while p < end {
        let m = f(t.cp(p), t.cls[p]);
        let s = p;
        while p < end && f(t.cp(p), t.cls[p]) == m {
            p += 1;
        }
        push(out, s, p);
    }
}

/// `[0-9][0-9][0-9]`: leftmost groups of three ASCII digits.
fn ascii_digit_triples(t: &Text<'_>, start: usize, end: usize, out: &mut Vec<(usize, usize)>) {
    let digit = |p: usize| p < end && (b'0' as u32..=b'9' as u32).contains(&t.cp(p));
    let mut gap = start;
    let mut p = start;
    while p < end {
        if digit(p) && digit(p + 1) && digit(p + 2) {
            push(out, gap, p);
            push(out, p, p + 3);
            p += 3;
            gap = p;
        } else {
            p += 1;
        }
    }
    push(out, gap, end);
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn words(pre: PreTokenizer, text: &str) -> Vec<&str> {
        let mut s = Scratch::default();
        let mut out = Vec::new();
        split(pre, text, &mut s, &mut out);
        out.iter().map(|&(a, b)| &text[a..b]).collect()
    }

    #[test]
    fn gpt2_words() {
        assert_eq!(
            words(
                PreTokenizer::Gpt2,
                "Hello, y'all!  How's it   going?\n\tok 123"
            ),
            [
                "Hello", ",", " y", "'", "all", "!", " ", " How", "'s", " it", "  ", " going", "?",
                "\n", "\t", "ok", " 123"
            ]
        );
        assert_eq!(words(PreTokenizer::Gpt2, "a  "), ["a", "  "]);
        assert_eq!(words(PreTokenizer::Gpt2, ""), Vec::<&str>::new());
    }

    #[test]
    fn smollm_isolates_digits() {
        assert_eq!(
            words(PreTokenizer::Smollm, "1, 22 x3"),
            ["1", ",", " ", "2", "2", " x", "3"]
        );
    }

    #[test]
    fn qwen2_words() {
        assert_eq!(
            words(
                PreTokenizer::Qwen2,
                "Hello World's (test) 123\n\n  x\t\ty'ALL"
            ),
            [
                "Hello", " World", "'s", " (", "test", ")", " ", "1", "2", "3", "\n\n", " ", " x",
                "\t", "\ty", "'ALL"
            ]
        );
        assert_eq!(
            words(PreTokenizer::Qwen2, "a ...\n\nb"),
            ["a", " ...\n\n", "b"]
        );
        assert_eq!(words(PreTokenizer::Qwen2, "a \n b"), ["a", " \n", " b"]);
    }

    #[test]
    fn default_passes() {
        assert_eq!(
            words(PreTokenizer::Default, "ab...cd 12345"),
            ["ab", "...", "cd", " ", "123", "45"]
        );
    }

    #[test]
    fn names() {
        assert_eq!(PreTokenizer::from_name("gpt-2"), Some(PreTokenizer::Gpt2));
        assert_eq!(PreTokenizer::from_name("qwen2"), Some(PreTokenizer::Qwen2));
        assert_eq!(
            PreTokenizer::from_name("smollm"),
            Some(PreTokenizer::Smollm)
        );
        assert_eq!(PreTokenizer::from_name("llama-bpe"), None);
    }
}

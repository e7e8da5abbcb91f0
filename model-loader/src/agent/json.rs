//! The little JSON the agent needs: writing values the way the chat
//! templates' `tojson` filter does (Python's `json.dumps` with
//! `ensure_ascii=False`: `", "` and `": "` separators, keys in insertion
//! order), and reading a model's call (an object of strings, numbers,
//! booleans and nested objects).

use alloc::string::String;
use alloc::vec::Vec;

/// Appends `s` as a JSON string literal, escaped as `json.dumps` does with
/// `ensure_ascii=False` (only `"`, `\` and control characters below 0x20).
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                out.push_str(&alloc::format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A parsed JSON value (only what calls use; arrays are kept for
/// completeness of the syntax).
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    /// A number as written (so that `5` stays `5`, not `5.0`).
    Num(String),
    Str(String),
    Arr(Vec<Json>),
    /// Members in the order written (duplicates kept: the caller refuses them).
    Obj(Vec<(String, Json)>),
}

impl Json {
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Parses one JSON value at the start of `s`; returns it and the number of
/// bytes it took (trailing text is the caller's business).
pub fn parse_prefix(s: &str) -> Result<(Json, usize), &'static str> {
    let mut p = Parser {
        b: s.as_bytes(),
        pos: 0,
        depth: 0,
    };
    p.ws();
    let v = p.value()?;
    Ok((v, p.pos))
}

/// Parses `s` as exactly one JSON value (whitespace around allowed).
pub fn parse(s: &str) -> Result<Json, &'static str> {
    let (v, n) = parse_prefix(s)?;
    if !s[n..].trim().is_empty() {
        return Err("text after the JSON value");
    }
    Ok(v)
}

struct Parser<'a> {
    b: &'a [u8],
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while matches!(self.b.get(self.pos), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.b.get(self.pos) == Some(&c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn lit(&mut self, word: &[u8], v: Json) -> Result<Json, &'static str> {
        if self.b[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(v)
        } else {
            Err("not a JSON value")
        }
    }

    fn value(&mut self) -> Result<Json, &'static str> {
        match self.b.get(self.pos) {
            None => Err("unexpected end of JSON"),
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => self.string().map(Json::Str),
            Some(b't') => self.lit(b"true", Json::Bool(true)),
            Some(b'f') => self.lit(b"false", Json::Bool(false)),
            Some(b'n') => self.lit(b"null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err("not a JSON value"),
        }
    }

    fn nest(&mut self) -> Result<(), &'static str> {
        self.depth += 1;
        if self.depth > 16 {
            Err("JSON nested too deeply")
        } else {
            Ok(())
        }
    }

    fn object(&mut self) -> Result<Json, &'static str> {
        self.nest()?;
        self.pos += 1;
        let mut members = Vec::new();
        self.ws();
        if !self.eat(b'}') {
            loop {
                self.ws();
                if self.b.get(self.pos) != Some(&b'"') {
                    return Err("expected a key in a JSON object");
                }
                let k = self.string()?;
                self.ws();
                if !self.eat(b':') {
                    return Err("expected : in a JSON object");
                }
                self.ws();
                let v = self.value()?;
                members.push((k, v));
                self.ws();
                if self.eat(b'}') {
                    break;
                }
                if !self.eat(b',') {
                    return Err("expected , or } in a JSON object");
                }
            }
        }
        self.depth -= 1;
        Ok(Json::Obj(members))
    }

    fn array(&mut self) -> Result<Json, &'static str> {
        self.nest()?;
        self.pos += 1;
        let mut items = Vec::new();
        self.ws();
        if !self.eat(b']') {
            loop {
                self.ws();
                items.push(self.value()?);
                self.ws();
                if self.eat(b']') {
                    break;
                }
                if !self.eat(b',') {
                    return Err("expected , or ] in a JSON array");
                }
            }
        }
        self.depth -= 1;
        Ok(Json::Arr(items))
    }

    fn number(&mut self) -> Result<Json, &'static str> {
        let start = self.pos;
        self.eat(b'-');
        let digits = |p: &mut Self| {
            let s = p.pos;
            while matches!(p.b.get(p.pos), Some(b'0'..=b'9')) {
                p.pos += 1;
            }
            p.pos > s
        };
        if !digits(self) {
            return Err("bad JSON number");
        }
        if self.eat(b'.') && !digits(self) {
            return Err("bad JSON number");
        }
        if self.eat(b'e') || self.eat(b'E') {
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            if !digits(self) {
                return Err("bad JSON number");
            }
        }
        // Only ASCII was consumed.
        let text = core::str::from_utf8(&self.b[start..self.pos]).map_err(|_| "bad JSON number")?;
        Ok(Json::Num(text.into()))
    }

    fn string(&mut self) -> Result<String, &'static str> {
        self.pos += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(&c) = self.b.get(self.pos) else {
                return Err("unterminated JSON string");
            };
            self.pos += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.b.get(self.pos) else {
                        return Err("unterminated JSON string");
                    };
                    self.pos += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'u' => {
                            let mut cp = self.hex4()?;
                            if (0xD800..0xDC00).contains(&cp) {
                                if !(self.eat(b'\\') && self.eat(b'u')) {
                                    return Err("lone surrogate in a JSON string");
                                }
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err("bad surrogate pair in a JSON string");
                                }
                                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                            }
                            let ch = char::from_u32(cp).ok_or("bad \\u escape in a JSON string")?;
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => return Err("bad escape in a JSON string"),
                    }
                }
                c if c < 0x20 => return Err("control character in a JSON string"),
                c => out.push(c),
            }
        }
        String::from_utf8(out).map_err(|_| "invalid UTF-8 in a JSON string")
    }

    fn hex4(&mut self) -> Result<u32, &'static str> {
        let h = self.b.get(self.pos..self.pos + 4).ok_or("bad \\u escape")?;
        let s = core::str::from_utf8(h).map_err(|_| "bad \\u escape")?;
        let v = u32::from_str_radix(s, 16).map_err(|_| "bad \\u escape")?;
        self.pos += 4;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_like_json_dumps() {
        let mut s = String::new();
        write_str(&mut s, "a\"b\\c\nd\u{1}é\u{7f}");
        assert_eq!(s, "\"a\\\"b\\\\c\\nd\\u0001é\u{7f}\"");
    }

    #[test]
    fn parses_calls() {
        let v = parse(r#" {"name": "rm", "arguments": {"path": "/a b", "r": true, "n": 5, "x": null, "l": [1, "\u00e9\n"]}} "#).unwrap();
        assert_eq!(v.get("name"), Some(&Json::Str("rm".into())));
        let a = v.get("arguments").unwrap();
        assert_eq!(a.get("path"), Some(&Json::Str("/a b".into())));
        assert_eq!(a.get("r"), Some(&Json::Bool(true)));
        assert_eq!(a.get("n"), Some(&Json::Num("5".into())));
        assert_eq!(
            a.get("l"),
            Some(&Json::Arr(alloc::vec![
                Json::Num("1".into()),
                Json::Str("é\n".into())
            ]))
        );
        for bad in [
            "",
            "{",
            "{\"a\" 1}",
            "{\"a\": tru}",
            "\"abc",
            "[1,]",
            "{} x",
            "\"\\x\"",
            "01a",
            "\"\\ud800\"",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let deep = "[".repeat(40);
        assert!(parse(&deep).is_err());
        assert_eq!(parse_prefix("{\"a\": 1}\n</tool_call>").unwrap().1, 8);
    }
}

//! The byte-level automaton of a call, built from the registry.
//!
//! A call is `{"name": "NAME", "arguments": {ARGS}}` (NAME: a command's
//! name or one of its aliases, see `Spec::aliases`) in the canonical
//! spacing of the templates' `tojson`. ARGS are the command's arguments in
//! table order, each `"key": VALUE`, optional ones skippable, separated by
//! `, `; VALUE follows the argument's kind: a JSON string of valid UTF-8
//! without control characters (a word: no spaces; a command: `/` and the
//! name of a command the automaton offers, alone or, if it has arguments,
//! followed by a space and them; text: with the escapes `\" \\ \/ \n \r \t`), one of a choice's
//! words in quotes, a whole number with at most as many digits as the
//! maximum, a decimal number, a duration `"10m"` (units ms, s, m, h), or
//! `true`/`false`. The language is regular: it is written as an NFA with
//! ε-edges ([`Nfa`]), then determinised once ([`Dfa`], one 256-entry row
//! per state), so that stepping a byte is one table lookup.
//!
//! The automaton starts *after* the opening `{` (the decoder feeds it when
//! a call opens) and accepts at the closing `}}`.

use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;

use klib::registry::{Kind, Spec};

/// No transition.
pub const DEAD: u32 = u32::MAX;

/// A nondeterministic automaton under construction.
#[derive(Default)]
struct Nfa {
    /// Per state: byte-range edges and ε-edges.
    edges: Vec<Vec<(u8, u8, u32)>>,
    eps: Vec<Vec<u32>>,
    /// The commands a command-line argument may name, and whether they
    /// take arguments.
    names: Vec<(Vec<u8>, bool)>,
}

impl Nfa {
    fn state(&mut self) -> u32 {
        self.edges.push(Vec::new());
        self.eps.push(Vec::new());
        (self.edges.len() - 1) as u32
    }
    fn edge(&mut self, from: u32, lo: u8, hi: u8, to: u32) {
        self.edges[from as usize].push((lo, hi, to));
    }
    fn eps(&mut self, from: u32, to: u32) {
        self.eps[from as usize].push(to);
    }
    /// `lit` from `from`; returns the state after it.
    fn lit(&mut self, from: u32, lit: &[u8]) -> u32 {
        let mut s = from;
        for &b in lit {
            let t = self.state();
            self.edge(s, b, b, t);
            s = t;
        }
        s
    }
    /// One byte of any of the ranges from `from` to `to`.
    fn class(&mut self, from: u32, ranges: &[(u8, u8)], to: u32) {
        for &(lo, hi) in ranges {
            self.edge(from, lo, hi, to);
        }
    }
    /// One to `max` digits (no leading zero unless just `0`).
    fn digits(&mut self, from: u32, max: usize) -> u32 {
        let end = self.state();
        let zero = self.lit(from, b"0");
        self.eps(zero, end);
        let mut s = self.state();
        self.edge(from, b'1', b'9', s);
        self.eps(s, end);
        for _ in 1..max {
            let t = self.state();
            self.edge(s, b'0', b'9', t);
            self.eps(t, end);
            s = t;
        }
        end
    }
    /// One valid UTF-8 character of at least two bytes from `from` to `to`
    /// (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF).
    fn utf8_multi(&mut self, from: u32, to: u32) {
        // cN: N continuation bytes still to come.
        let c1 = self.state();
        self.edge(c1, 0x80, 0xBF, to);
        let c2 = self.state();
        self.edge(c2, 0x80, 0xBF, c1);
        let c3 = self.state();
        self.edge(c3, 0x80, 0xBF, c2);
        self.edge(from, 0xC2, 0xDF, c1);
        // Three bytes: E0 needs A0..BF (not overlong), ED 80..9F (not a
        // surrogate).
        let e0 = self.state();
        self.edge(e0, 0xA0, 0xBF, c1);
        let ed = self.state();
        self.edge(ed, 0x80, 0x9F, c1);
        self.edge(from, 0xE0, 0xE0, e0);
        self.edge(from, 0xE1, 0xEC, c2);
        self.edge(from, 0xED, 0xED, ed);
        self.edge(from, 0xEE, 0xEF, c2);
        // Four bytes: F0 needs 90..BF (not overlong), F4 80..8F (at most
        // U+10FFFF).
        let f0 = self.state();
        self.edge(f0, 0x90, 0xBF, c2);
        let f4 = self.state();
        self.edge(f4, 0x80, 0x8F, c2);
        self.edge(from, 0xF0, 0xF0, f0);
        self.edge(from, 0xF1, 0xF3, c3);
        self.edge(from, 0xF4, 0xF4, f4);
    }
    /// A JSON string body and its closing quote (the opening one is
    /// already read): characters other than `"`, `\` and controls (and
    /// spaces when `!spaces`), the escapes when `escapes`, non-empty;
    /// `first` restricts the first byte.
    fn string(&mut self, from: u32, spaces: bool, escapes: bool, first: Option<u8>) -> u32 {
        let body = self.state();
        let ascii: &[(u8, u8)] = if spaces {
            &[(0x20, 0x21), (0x23, 0x5B), (0x5D, 0x7F)]
        } else {
            &[(0x21, 0x21), (0x23, 0x5B), (0x5D, 0x7F)]
        };
        // The first character.
        match first {
            Some(b) => {
                self.edge(from, b, b, body);
            }
            None => {
                self.class(from, ascii, body);
                self.utf8_multi(from, body);
                if escapes {
                    let e = self.state();
                    self.edge(from, b'\\', b'\\', e);
                    self.escape_tail(e, body);
                }
            }
        }
        // The rest.
        self.class(body, ascii, body);
        self.utf8_multi(body, body);
        if escapes {
            let e = self.state();
            self.edge(body, b'\\', b'\\', e);
            self.escape_tail(e, body);
        }
        self.lit(body, b"\"")
    }
    fn escape_tail(&mut self, e: u32, to: u32) {
        for b in *b"\"\\/nrt" {
            self.edge(e, b, b, to);
        }
    }
    /// A value of `kind` from `from`; returns the state after it.
    fn value(&mut self, from: u32, kind: &Kind) -> u32 {
        match *kind {
            Kind::Path => {
                let q = self.lit(from, b"\"");
                self.string(q, true, false, None)
            }
            Kind::Word => {
                let q = self.lit(from, b"\"");
                self.string(q, false, false, None)
            }
            Kind::Text => {
                let q = self.lit(from, b"\"");
                self.string(q, true, true, None)
            }
            Kind::Command => {
                // `/NAME` of a listed command, alone or with arguments.
                let q = self.lit(from, b"\"/");
                let end = self.state();
                for (name, has_args) in self.names.clone() {
                    let s = self.lit(q, &name);
                    let t = self.lit(s, b"\"");
                    self.eps(t, end);
                    if !has_args {
                        continue;
                    }
                    let sp = self.lit(s, b" ");
                    let t = self.string(sp, true, true, None);
                    self.eps(t, end);
                }
                end
            }
            Kind::Choice(words) => {
                let q = self.lit(from, b"\"");
                let end = self.state();
                for w in words {
                    let s = self.lit(q, w.as_bytes());
                    let t = self.lit(s, b"\"");
                    self.eps(t, end);
                }
                end
            }
            Kind::Int { max, .. } => {
                let n = max.checked_ilog10().unwrap_or(0) as usize + 1;
                self.digits(from, n)
            }
            Kind::Number { .. } => {
                let whole = self.digits(from, 6);
                let end = self.state();
                self.eps(whole, end);
                let dot = self.lit(whole, b".");
                let mut s = self.state();
                self.edge(dot, b'0', b'9', s);
                self.eps(s, end);
                for _ in 1..6 {
                    let t = self.state();
                    self.edge(s, b'0', b'9', t);
                    self.eps(t, end);
                    s = t;
                }
                end
            }
            Kind::Duration { .. } => {
                let q = self.lit(from, b"\"");
                let n = self.digits(q, 6);
                let end = self.state();
                for unit in [&b"ms\""[..], b"s\"", b"m\"", b"h\""] {
                    let t = self.lit(n, unit);
                    self.eps(t, end);
                }
                end
            }
            Kind::Flag => {
                let end = self.state();
                for w in [&b"true"[..], b"false"] {
                    let t = self.lit(from, w);
                    self.eps(t, end);
                }
                end
            }
        }
    }
    /// `"key": VALUE`.
    fn member(&mut self, from: u32, key: &str, kind: &Kind) -> u32 {
        let s = self.lit(from, b"\"");
        let s = self.lit(s, key.as_bytes());
        let s = self.lit(s, b"\": ");
        self.value(s, kind)
    }
    /// The arguments of `spec` and the closing `}}` from `from`.
    fn args(&mut self, from: u32, spec: &Spec, accept: u32) {
        // none[i]: before argument i, none written; some[i]: some written.
        let n = spec.args.len();
        let none: Vec<u32> = (0..=n).map(|_| self.state()).collect();
        let some: Vec<u32> = (0..=n).map(|_| self.state()).collect();
        self.eps(from, none[0]);
        for (i, a) in spec.args.iter().enumerate() {
            let t = self.member(none[i], a.name, &a.kind);
            self.eps(t, some[i + 1]);
            let c = self.lit(some[i], b", ");
            let t = self.member(c, a.name, &a.kind);
            self.eps(t, some[i + 1]);
            if !a.required {
                self.eps(none[i], none[i + 1]);
                self.eps(some[i], some[i + 1]);
            }
        }
        for s in [none[n], some[n]] {
            let t = self.lit(s, b"}}");
            self.eps(t, accept);
        }
    }
}

/// The deterministic automaton of calls to a set of commands.
pub struct Dfa {
    /// 256 next states per state ([`DEAD`]: no transition).
    next: Vec<u32>,
    accepting: Vec<bool>,
}

impl Dfa {
    /// The automaton of calls to `specs` (after the opening `{`).
    pub fn for_commands<'s>(specs: impl Iterator<Item = &'s Spec>) -> Dfa {
        let specs: Vec<&Spec> = specs.collect();
        let mut nfa = Nfa {
            names: specs
                .iter()
                .map(|s| (s.name.as_bytes().to_vec(), !s.args.is_empty()))
                .collect(),
            ..Nfa::default()
        };
        let start = nfa.state();
        let accept = nfa.state();
        let names = nfa.lit(start, b"\"name\": \"");
        for spec in specs {
            let named = nfa.lit(names, spec.name.as_bytes());
            for alias in spec.aliases {
                let s = nfa.lit(names, alias.as_bytes());
                nfa.eps(s, named);
            }
            let s = nfa.lit(named, b"\", \"arguments\": {");
            nfa.args(s, spec, accept);
        }
        Dfa::determinise(&nfa, start, accept)
    }

    fn determinise(nfa: &Nfa, start: u32, accept: u32) -> Dfa {
        let closure = |set: &mut Vec<u32>| {
            let mut i = 0;
            while i < set.len() {
                for &t in &nfa.eps[set[i] as usize] {
                    if !set.contains(&t) {
                        set.push(t);
                    }
                }
                i += 1;
            }
            set.sort_unstable();
        };
        let mut first = vec![start];
        closure(&mut first);
        let mut ids: BTreeMap<Vec<u32>, u32> = BTreeMap::new();
        let mut sets = vec![first.clone()];
        ids.insert(first, 0);
        let mut next = Vec::new();
        let mut accepting = Vec::new();
        let mut k = 0;
        while k < sets.len() {
            let set = sets[k].clone();
            accepting.push(set.contains(&accept));
            let mut row = [DEAD; 256];
            for b in 0..=255u8 {
                let mut to: Vec<u32> = Vec::new();
                for &s in &set {
                    for &(lo, hi, t) in &nfa.edges[s as usize] {
                        if (lo..=hi).contains(&b) && !to.contains(&t) {
                            to.push(t);
                        }
                    }
                }
                if to.is_empty() {
                    continue;
                }
                closure(&mut to);
                let id = match ids.get(&to) {
                    Some(&id) => id,
                    None => {
                        let id = sets.len() as u32;
                        ids.insert(to.clone(), id);
                        sets.push(to);
                        id
                    }
                };
                row[b as usize] = id;
            }
            next.extend_from_slice(&row);
            k += 1;
        }
        Dfa { next, accepting }
    }

    pub const START: u32 = 0;

    pub fn n_states(&self) -> usize {
        self.accepting.len()
    }

    /// The state after `b`, or [`DEAD`].
    #[inline]
    pub fn step(&self, s: u32, b: u8) -> u32 {
        self.next[s as usize * 256 + b as usize]
    }

    /// The state after `bytes`, or [`DEAD`].
    pub fn walk(&self, mut s: u32, bytes: &[u8]) -> u32 {
        for &b in bytes {
            s = self.step(s, b);
            if s == DEAD {
                return DEAD;
            }
        }
        s
    }

    /// Whether the call is complete in `s` (nothing may follow).
    pub fn accepts(&self, s: u32) -> bool {
        self.accepting[s as usize]
    }

    /// The bytes the automaton forces from `s`: while exactly one byte
    /// continues and the state does not accept.
    pub fn forced(&self, mut s: u32) -> Vec<u8> {
        let mut out = Vec::new();
        while !self.accepts(s) && out.len() < 256 {
            let row = &self.next[s as usize * 256..][..256];
            let mut only = None;
            for (b, &t) in row.iter().enumerate() {
                if t != DEAD {
                    if only.is_some() {
                        return out;
                    }
                    only = Some((b as u8, t));
                }
            }
            match only {
                Some((b, t)) => {
                    out.push(b);
                    s = t;
                }
                None => return out,
            }
        }
        out
    }

    /// The bytes that may follow in `s` (for `/explain`).
    pub fn allowed_bytes(&self, s: u32) -> Vec<u8> {
        (0..=255u8).filter(|&b| self.step(s, b) != DEAD).collect()
    }
}

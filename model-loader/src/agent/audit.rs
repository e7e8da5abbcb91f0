//! The audit log's lines: one JSON object per command (typed by the
//! person or proposed by the model), hash-chained: each line carries the
//! hash of the previous line and its own, so that changing, removing or
//! reordering a line shows ([`verify`]). The hash is 64-bit FNV-1a (it
//! shows accidental and casual tampering; it is not a signature).

use alloc::format;
use alloc::string::String;

use super::json::{self, write_str, Json};
use super::run::Record;

/// 64-bit FNV-1a.
fn hash_bytes(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &x in b {
        h ^= x as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The hash of the empty log.
pub const GENESIS: u64 = 0;

/// The hash of a line's content given the previous hash.
fn chain(prev: u64, body: &str) -> u64 {
    let mut b = alloc::vec::Vec::with_capacity(body.len() + 8);
    b.extend_from_slice(&prev.to_le_bytes());
    b.extend_from_slice(body.as_bytes());
    hash_bytes(&b)
}

/// One audit line for `r` at `time` (text, e.g. `2026-12-05T08:40:12Z`),
/// after the line whose hash is `prev`: the line and its hash.
pub fn line(r: &Record, time: &str, prev: u64) -> (String, u64) {
    let mut s = String::from("{\"time\": ");
    write_str(&mut s, time);
    s.push_str(", \"origin\": ");
    write_str(&mut s, r.origin.name());
    s.push_str(", \"raw\": ");
    write_str(&mut s, &r.raw);
    s.push_str(", \"command\": ");
    match &r.command {
        Some(c) => write_str(&mut s, c),
        None => s.push_str("null"),
    }
    s.push_str(", \"tier\": ");
    match r.tier {
        Some(t) => write_str(&mut s, t.name()),
        None => s.push_str("null"),
    }
    s.push_str(", \"decision\": ");
    write_str(&mut s, r.decision.name());
    s.push_str(", \"status\": ");
    match &r.status {
        Ok(()) => write_str(&mut s, "ok"),
        Err(e) => write_str(&mut s, &format!("error: {e}")),
    }
    s.push_str(&format!(", \"duration_ms\": {}", r.duration_us / 1000));
    s.push_str(&format!(", \"prev\": \"{prev:016x}\""));
    let h = chain(prev, &s);
    s.push_str(&format!(", \"hash\": \"{h:016x}\"}}"));
    (s, h)
}

/// Checks a log's chain: `Ok(lines)` or the 1-based number of the first
/// line that does not fit.
pub fn verify(log: &str) -> Result<usize, usize> {
    verify_after(log, GENESIS)
}

/// Checks the chain of the lines that follow the line whose hash is `prev`
/// (e.g. the end of a long log: `prev` is [`prev_of`] its first line).
pub fn verify_after(log: &str, prev: u64) -> Result<usize, usize> {
    let mut prev = prev;
    let mut n = 0;
    for (i, l) in log.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let bad = Err(i + 1);
        let Some(cut) = l.rfind(", \"hash\": \"") else {
            return bad;
        };
        let Ok(v) = json::parse(l) else { return bad };
        let (Some(Json::Str(p)), Some(Json::Str(h))) = (v.get("prev"), v.get("hash")) else {
            return bad;
        };
        if *p != format!("{prev:016x}") {
            return bad;
        }
        let want = chain(prev, &l[..cut]);
        if *h != format!("{want:016x}") {
            return bad;
        }
        prev = want;
        n = i + 1;
    }
    Ok(n)
}

fn hex_field(l: &str, key: &str) -> Option<u64> {
    match json::parse(l).ok()?.get(key)? {
        Json::Str(h) if h.len() == 16 => u64::from_str_radix(h, 16).ok(),
        _ => None,
    }
}

/// The hash a line carries (what the next line's `prev` must be).
pub fn hash_of(line: &str) -> Option<u64> {
    hex_field(line, "hash")
}

/// The previous line's hash that a line names.
pub fn prev_of(line: &str) -> Option<u64> {
    hex_field(line, "prev")
}

/// An audit log kept in memory (the host's evaluation; the kernel appends
/// the same lines to `/log/audit.log`).
#[derive(Default)]
pub struct AuditLog {
    pub text: String,
    last: u64,
    pub lines: usize,
}

impl AuditLog {
    pub const fn new() -> AuditLog {
        AuditLog {
            text: String::new(),
            last: GENESIS,
            lines: 0,
        }
    }

    /// Appends `r`; returns the line written.
    pub fn append(&mut self, r: &Record, time: &str) -> String {
        let (l, h) = line(r, time, self.last);
        self.last = h;
        self.text.push_str(&l);
        self.text.push('\n');
        self.lines += 1;
        l
    }

    /// The last `n` lines.
    pub fn tail(&self, n: usize) -> impl Iterator<Item = &str> {
        let skip = self.lines.saturating_sub(n);
        self.text.lines().skip(skip)
    }
}

#[cfg(test)]
mod tests {
    use super::super::run::{Decision, Origin};
    use super::*;
    use klib::registry::Tier;

    fn rec(raw: &str, decision: Decision) -> Record {
        Record {
            origin: Origin::Model,
            raw: raw.into(),
            command: Some("/rm /a".into()),
            tier: Some(Tier::Destructive),
            decision,
            status: Ok(()),
            duration_us: 1500,
        }
    }

    #[test]
    fn lines_chain_and_tampering_shows() {
        let mut log = AuditLog::new();
        log.append(
            &rec("{\"name\": \"rm\"}", Decision::Declined),
            "2026-12-05T08:00:00Z",
        );
        log.append(
            &rec("x\ny \"q\"", Decision::Confirmed),
            "2026-12-05T08:00:01Z",
        );
        log.append(
            &Record {
                origin: Origin::Person,
                raw: "/date".into(),
                command: None,
                tier: None,
                decision: Decision::Ran,
                status: Err("no clock".into()),
                duration_us: 0,
            },
            "t",
        );
        assert_eq!(verify(&log.text), Ok(3));
        let first = log.text.lines().next().unwrap();
        assert!(first.starts_with("{\"time\": \"2026-12-05T08:00:00Z\", \"origin\": \"model\", \"raw\": \"{\\\"name\\\": \\\"rm\\\"}\", \"command\": \"/rm /a\", \"tier\": \"destructive\", \"decision\": \"declined\", \"status\": \"ok\", \"duration_ms\": 1, \"prev\": \"0000000000000000\", \"hash\": \""), "{first}");
        assert_eq!(log.tail(1).count(), 1);
        // The end of a log checks on its own, from its first line's prev.
        let second = log.text.lines().nth(1).unwrap();
        let rest: String = log.text.lines().skip(1).map(|l| format!("{l}\n")).collect();
        assert_eq!(verify_after(&rest, prev_of(second).unwrap()), Ok(2));
        assert_eq!(prev_of(second), hash_of(first));
        assert_eq!(hash_of("{\"hash\": \"12\"}"), None);
        assert!(log.tail(1).next().unwrap().contains("no clock"));
        // Change a decision, drop a line, swap lines: all show.
        let edited = log.text.replacen("declined", "confirmed", 1);
        assert_eq!(verify(&edited), Err(1));
        let lines: alloc::vec::Vec<&str> = log.text.lines().collect();
        assert_eq!(
            verify(&alloc::format!("{}\n{}\n", lines[0], lines[2])),
            Err(2)
        );
        assert_eq!(
            verify(&alloc::format!("{}\n{}\n", lines[1], lines[0])),
            Err(1)
        );
    }
}

//! The audit log on the filesystem: `/log/audit.log`, one hash-chained JSON
//! line per command (`model_loader::agent::audit` writes and checks the
//! lines). Each entry is appended, committed and flushed before the next
//! prompt, so it is on the data disk when the command's result is shown.
//! The chain goes on across boots from the file's last line; if the file
//! was removed, a new chain starts. Entries that cannot be written (a full
//! disk, a broken one) are kept in memory, said once, and shown by
//! `/audit`.

use crate::fs;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use kfs::FsError;
use model_loader::agent::audit::{self, GENESIS};
use model_loader::agent::Record;
use spin::Mutex;

/// Where the log lives (the file only the kernel writes).
pub const PATH: &str = kfs::path::KERNEL_OWNED[0];
const DIR: &str = "/log";
/// Entries kept in memory when the file cannot be written.
const UNWRITTEN_MAX: usize = 1000;
/// How much of the end of the file `/audit` reads and checks.
const TAIL_BYTES: u64 = 1 << 20;

struct State {
    /// The hash of the file's last line.
    last: u64,
    /// Entries that could not be written, and why the last one failed.
    unwritten: Vec<String>,
    failure: Option<String>,
}

static STATE: Mutex<State> = Mutex::new(State {
    last: GENESIS,
    unwritten: Vec::new(),
    failure: None,
});

/// The hash of the log's last line on the filesystem (GENESIS if there is
/// no log yet).
fn last_hash(m: &mut fs::Mounted) -> Result<u64, String> {
    match m.fs.read_tail(PATH, 4096) {
        Err(FsError::NotFound(_)) => Ok(GENESIS),
        Err(e) => Err(format!("{e}")),
        Ok((bytes, _)) => {
            let text = String::from_utf8_lossy(&bytes);
            match text.lines().filter(|l| !l.trim().is_empty()).next_back() {
                None => Ok(GENESIS),
                Some(l) => audit::hash_of(l)
                    .ok_or_else(|| String::from("its last line is not an audit entry")),
            }
        }
    }
}

/// Finds where the chain goes on (at boot, after the filesystem).
pub fn init() {
    match fs::with(last_hash) {
        Ok(Ok(h)) => STATE.lock().last = h,
        Ok(Err(e)) => log::warn!("audit: {PATH}: {e}; new entries start a new chain"),
        Err(e) => log::warn!("audit: {e}; entries are kept in memory"),
    }
}

/// Appends one line for `r` at `time` to the log.
pub fn append(r: &Record, time: &str) {
    let mut st = STATE.lock();
    let prev = st.last;
    let written = fs::with(|m| -> Result<u64, FsError> {
        // A removed log (or /log) starts a new chain.
        let prev = if m.fs.exists(PATH)? {
            prev
        } else {
            if !m.fs.exists(DIR)? {
                m.fs.mkdir(DIR)?;
            }
            GENESIS
        };
        let (mut line, h) = audit::line(r, time, prev);
        line.push('\n');
        m.fs.append(PATH, line.as_bytes())?;
        Ok(h)
    })
    .and_then(|w| w.map_err(|e| format!("{e}")));
    match written {
        Ok(h) => st.last = h,
        Err(why) => {
            if st.failure.is_none() {
                log::warn!(
                    "audit: {PATH} could not be written ({why}): entries are kept in memory"
                );
            }
            st.failure = Some(why);
            let (line, h) = audit::line(r, time, st.last);
            st.last = h;
            if st.unwritten.len() == UNWRITTEN_MAX {
                st.unwritten.remove(0);
            }
            st.unwritten.push(line);
        }
    }
}

/// What `/audit` shows: the last `n` entries and the chain's state.
pub fn report(n: usize) -> Vec<String> {
    let mut out = Vec::new();
    let file = fs::with(|m| {
        let location = m.location.clone();
        (m.fs.read_tail(PATH, TAIL_BYTES), location)
    });
    match file {
        Err(e) => out.push(format!("({e})")),
        Ok((Err(FsError::NotFound(_)), _)) => out.push(format!("{PATH} is empty")),
        Ok((Err(e), _)) => out.push(format!("{PATH} could not be read: {e}")),
        Ok((Ok((bytes, size)), location)) => {
            let text = String::from_utf8_lossy(&bytes);
            // Reading from the middle: the first line is cut, skip it.
            let whole = size <= TAIL_BYTES;
            let text = if whole {
                &text[..]
            } else {
                text.split_once('\n').map_or("", |(_, rest)| rest)
            };
            let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            for l in &lines[lines.len().saturating_sub(n)..] {
                out.push(String::from(*l));
            }
            let checked = match (whole, lines.first()) {
                (true, _) => audit::verify(text),
                (false, Some(first)) => match audit::prev_of(first) {
                    Some(p) => audit::verify_after(text, p),
                    None => Err(1),
                },
                (false, None) => Ok(0),
            };
            let scope = if whole { "" } else { "the last " };
            out.push(match checked {
                Ok(k) => format!("({scope}{k} entries of {PATH}, hash chain intact; {location})"),
                Err(k) => format!(
                    "(the hash chain of {PATH} breaks at {scope}entry {k}: the log was changed)"
                ),
            });
        }
    }
    let st = STATE.lock();
    if let Some(why) = &st.failure {
        out.push(format!(
            "{} entries could not be written ({why}) and are kept in memory:",
            st.unwritten.len()
        ));
        let k = st.unwritten.len();
        out.extend(st.unwritten[k.saturating_sub(n)..].iter().cloned());
    }
    out
}

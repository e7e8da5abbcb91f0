//! The conversation's [`Io`] on a terminal: reply text to stdout, notices,
//! progress and statistics to stderr.

use std::io::Write;
use std::time::Instant;

use model_loader::conversation::Io;

pub struct HostIo {
    start: Instant,
    /// Whether a progress line is open on stderr.
    progress_shown: bool,
}

impl HostIo {
    pub fn new() -> HostIo {
        HostIo {
            start: Instant::now(),
            progress_shown: false,
        }
    }

    fn end_progress(&mut self) {
        if self.progress_shown {
            eprint!("\r\x1b[K");
            self.progress_shown = false;
        }
    }

    /// A dim line on stderr (statistics).
    pub fn dim(&mut self, s: &str) {
        self.end_progress();
        eprintln!("\x1b[2m[{s}]\x1b[0m");
    }
}

impl Io for HostIo {
    fn text(&mut self, s: &str) {
        self.end_progress();
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(s.as_bytes());
        let _ = out.flush();
    }

    fn notice(&mut self, s: &str) {
        self.end_progress();
        eprintln!("[{s}]");
    }

    fn progress(&mut self, done: usize, total: usize) {
        if done < total {
            eprint!("\r[prefill {done}/{total} tokens]");
            self.progress_shown = true;
        } else {
            self.end_progress();
        }
    }

    fn now_us(&mut self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }
}

//! Keys from the keyboards (PS/2, USB), already turned into the bytes a
//! terminal sends (`klib::keyboard`): one queue that the console reads
//! next to the serial line, so every keyboard feeds the same line editor.
//!
//! Producers are interrupt handlers (or the timer's USB poll) on the boot
//! CPU, which never interrupt each other; the console is the consumer.
//! Ctrl-C is counted as it arrives so long-running work can poll for it
//! ([`take_ctrl_c`]) without reading the queue, as on the serial line.

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use klib::ring::ByteRing;

static KEYS: ByteRing<256> = ByteRing::new();
static CTRL_C_PENDING: AtomicUsize = AtomicUsize::new(0);
static CTRL_C_TAKEN: AtomicUsize = AtomicUsize::new(0);
/// When the last Ctrl-C was typed (microseconds of uptime; 0: never).
static CTRL_C_AT_US: AtomicU64 = AtomicU64::new(0);

/// Queues the bytes of one key press. A key that does not fit whole is
/// dropped (as a full keyboard buffer does), never half-queued.
pub fn push_key(bytes: &[u8]) {
    if KEYS.capacity() - KEYS.len() < bytes.len() {
        return;
    }
    for &b in bytes {
        if b == 0x03 {
            let now = crate::time::uptime().as_micros() as u64;
            CTRL_C_AT_US.store(now, Ordering::SeqCst);
            CTRL_C_PENDING.fetch_add(1, Ordering::SeqCst);
        }
        let _ = KEYS.push(b);
    }
}

/// Whether typed bytes wait to be read.
pub fn pending() -> bool {
    !KEYS.is_empty()
}

/// The next byte typed on a keyboard, left queued (for the console only).
pub fn peek_byte() -> Option<u8> {
    KEYS.peek()
}

/// The next byte typed on a keyboard, if any.
pub fn read_byte() -> Option<u8> {
    loop {
        match KEYS.pop() {
            Some(0x03) => {
                if decrement(&CTRL_C_TAKEN) {
                    continue; // already acted on through take_ctrl_c
                }
                decrement(&CTRL_C_PENDING);
                return Some(0x03);
            }
            other => return other,
        }
    }
}

/// When the last Ctrl-C was typed on a keyboard (microseconds of uptime;
/// 0 if none was).
pub fn last_ctrl_c_us() -> u64 {
    CTRL_C_AT_US.load(Ordering::SeqCst)
}

/// Whether a Ctrl-C was typed that nobody has acted on yet; takes it.
pub fn take_ctrl_c() -> bool {
    if decrement(&CTRL_C_PENDING) {
        CTRL_C_TAKEN.fetch_add(1, Ordering::SeqCst);
        true
    } else {
        false
    }
}

fn decrement(counter: &AtomicUsize) -> bool {
    counter
        .try_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

//! The screen sink of the console: everything written to the serial line
//! is drawn on the framebuffer too, through the text grid of
//! `klib::screen`. Changed text rows are rendered into a RAM shadow of the
//! framebuffer and only those pixel lines are copied out; a scroll moves
//! the shadow's pixels instead of rendering every row again.
//!
//! Drawing is batched: text goes into the grid at once, and the screen is
//! brought up to date at most every [`FLUSH_EVERY`] while output streams,
//! and at once when the console waits for input ([`flush`]), after each
//! log line, and on the fatal path. A burst of output (a long paste being
//! echoed, a scrolling listing) then costs one redraw per interval, not
//! one per write.
//!
//! Output written before the framebuffer is set up (the first boot log
//! lines) is kept in a small buffer and drawn when it is.

use crate::drivers::framebuffer::FrameBuffer;
use alloc::vec;
use alloc::vec::Vec;
use bootloader_api::info::FrameBuffer as BootFrameBuffer;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use core::time::Duration;
use klib::screen::render::{self, BACKGROUND};
use klib::screen::{Font, TextGrid};
use spin::Mutex;

struct Screen {
    fb: FrameBuffer,
    shadow: Vec<u8>,
    grid: TextGrid,
    font: Font,
}

/// Output before [`init`]: kept so the screen shows the whole boot log.
struct Early {
    bytes: [u8; 4096],
    len: usize,
    /// `init` ran (with or without a screen): stop buffering.
    done: bool,
}

static SCREEN: Mutex<Option<Screen>> = Mutex::new(None);
/// The grid has changes not drawn yet.
static PENDING: AtomicBool = AtomicBool::new(false);
/// Uptime of the last redraw, in microseconds.
static LAST_FLUSH_US: AtomicU64 = AtomicU64::new(0);
/// How long streaming output may wait to be drawn.
pub const FLUSH_EVERY: Duration = Duration::from_millis(20);
static EARLY: Mutex<Early> = Mutex::new(Early {
    bytes: [0; 4096],
    len: 0,
    done: false,
});

/// Takes over the framebuffer (if the bootloader set one up) and draws
/// what was printed so far. Needs the heap.
pub fn init(fb: Option<BootFrameBuffer>) {
    let screen = fb.map(FrameBuffer::new).and_then(|r| match r {
        Ok(fb) => Some(fb),
        Err(why) => {
            log::warn!("framebuffer not used: {why}");
            None
        }
    });
    let mut early = EARLY.lock();
    early.done = true;
    let Some(mut fb) = screen else {
        return;
    };
    let font = Font::for_resolution(fb.width, fb.height);
    let (cols, rows) = render::grid_size(&font, fb.width, fb.height);
    let mut shadow = vec![0u8; fb.len()];
    let mut bg = [0u8; 8];
    let bpp = fb.layout.bytes_per_pixel;
    fb.layout.encode(BACKGROUND, &mut bg[..bpp]);
    for px in shadow.chunks_exact_mut(bpp) {
        px.copy_from_slice(&bg[..bpp]);
    }
    fb.copy_lines(&shadow, 0..fb.height);
    let mut s = Screen {
        fb,
        shadow,
        grid: TextGrid::new(cols, rows),
        font,
    };
    let text = core::str::from_utf8(&early.bytes[..early.len]).unwrap_or_else(|e| {
        // Cut inside a character: draw what is whole.
        core::str::from_utf8(&early.bytes[..e.valid_up_to()]).unwrap_or("")
    });
    s.grid.write(text);
    s.flush();
    let (w, h, ch) = (s.fb.width, s.fb.height, s.font.height());
    *SCREEN.lock() = Some(s);
    drop(early);
    log::info!("screen: {w}x{h} framebuffer, {cols}x{rows} text in a {ch} px font");
}

/// Draws `s` (the same bytes the serial line gets), now or within
/// [`FLUSH_EVERY`].
pub fn write(s: &str) {
    if let Some(screen) = SCREEN.lock().as_mut() {
        screen.grid.write(s);
        PENDING.store(true, Ordering::SeqCst);
        let now = crate::time::uptime();
        let last = Duration::from_micros(LAST_FLUSH_US.load(Ordering::Relaxed));
        // Before the clock runs (uptime 0), draw every time.
        if now.is_zero() || now.saturating_sub(last) >= FLUSH_EVERY {
            screen.flush();
        }
        return;
    }
    let mut early = EARLY.lock();
    if !early.done {
        let start = early.len;
        let n = s.len().min(early.bytes.len() - start);
        early.bytes[start..start + n].copy_from_slice(&s.as_bytes()[..n]);
        early.len += n;
    }
}

/// Whether output is waiting to be drawn (cheap; no lock).
pub fn pending() -> bool {
    PENDING.load(Ordering::SeqCst)
}

/// Draws whatever is waiting.
pub fn flush() {
    if !pending() {
        return;
    }
    if let Some(screen) = SCREEN.lock().as_mut() {
        screen.flush();
    }
}

/// Draws what is waiting if it has waited [`FLUSH_EVERY`] (for loops
/// that poll, like token generation).
pub fn flush_if_due() {
    let last = Duration::from_micros(LAST_FLUSH_US.load(Ordering::Relaxed));
    if pending() && crate::time::uptime().saturating_sub(last) >= FLUSH_EVERY {
        flush();
    }
}

/// For the fatal-error path: draws `s` unless the screen is locked (the
/// failing code may hold the lock in the middle of a redraw).
pub fn write_fatal(s: &str) {
    if let Some(mut guard) = SCREEN.try_lock() {
        if let Some(screen) = guard.as_mut() {
            screen.grid.write(s);
            screen.flush();
        }
    }
}

impl Screen {
    /// Brings the framebuffer up to date with the grid.
    fn flush(&mut self) {
        PENDING.store(false, Ordering::SeqCst);
        LAST_FLUSH_US.store(crate::time::uptime().as_micros() as u64, Ordering::Relaxed);
        let line_bytes = self.font.height() * self.fb.stride;
        let text_bytes = self.grid.rows() * line_bytes;
        let scrolled = self.grid.take_scrolled();
        if scrolled > 0 && scrolled < self.grid.rows() {
            self.shadow
                .copy_within(scrolled * line_bytes..text_bytes, 0);
        }
        let dirty = self.grid.take_dirty();
        let h = self.font.height();
        let cell_bytes = self.font.width() * self.fb.layout.bytes_per_pixel;
        for (row, span) in dirty.iter().enumerate().filter(|(_, s)| !s.is_empty()) {
            let start = row * line_bytes;
            render::render_cells(
                &self.grid,
                row,
                span.from..span.to,
                &self.font,
                self.fb.layout,
                &mut self.shadow[start..start + line_bytes],
                self.fb.stride,
            );
            if scrolled == 0 {
                self.fb.copy_rect(
                    &self.shadow,
                    row * h..(row + 1) * h,
                    span.from * cell_bytes..span.to * cell_bytes,
                );
            }
        }
        if scrolled > 0 {
            self.fb.copy_lines(&self.shadow, 0..self.grid.rows() * h);
        }
    }
}

/// Whether the screen's locks are held (the scheduler does not preempt
/// then: `task::sched`).
pub fn lock_held() -> bool {
    SCREEN.is_locked() || EARLY.is_locked()
}

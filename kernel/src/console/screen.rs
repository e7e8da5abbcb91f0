//! The screen sink of the console: everything written to the serial line
//! is drawn on the framebuffer too, through the text grid of
//! `klib::screen`. Changed text rows are rendered into a RAM shadow of the
//! framebuffer and only those pixel lines are copied out; a scroll moves
//! the shadow's pixels instead of rendering every row again.
//!
//! Output written before the framebuffer is set up (the first boot log
//! lines) is kept in a small buffer and drawn when it is.

use crate::drivers::framebuffer::FrameBuffer;
use alloc::vec;
use alloc::vec::Vec;
use bootloader_api::info::FrameBuffer as BootFrameBuffer;
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

/// Draws `s` (the same bytes the serial line gets).
pub fn write(s: &str) {
    if let Some(screen) = SCREEN.lock().as_mut() {
        screen.grid.write(s);
        screen.flush();
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

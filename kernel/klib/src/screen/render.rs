//! Drawing a [`TextGrid`] into pixels: any framebuffer layout (RGB, BGR,
//! grey, or channel bit positions; any bytes per pixel and stride), the
//! console's colours, and a block cursor.
//!
//! The kernel renders changed rows into its RAM shadow of the framebuffer;
//! the QEMU screen test renders the expected screen on the host with the
//! same code.

use super::font::Font;
use super::grid::{Attr, Colour, TextGrid};

/// How a pixel's bytes hold its colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelFormat {
    /// Red, green, blue bytes in that order.
    Rgb,
    /// Blue, green, red.
    Bgr,
    /// One grey byte.
    Grey,
    /// 8-bit channels at these bit positions of a little-endian pixel.
    Shifts { red: u8, green: u8, blue: u8 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PixelLayout {
    pub format: PixelFormat,
    pub bytes_per_pixel: usize,
}

impl PixelLayout {
    /// Packed 24-bit RGB (what QEMU's `screendump` writes, as PPM).
    pub const RGB24: PixelLayout = PixelLayout {
        format: PixelFormat::Rgb,
        bytes_per_pixel: 3,
    };

    /// Writes `rgb` into `out` (`bytes_per_pixel` bytes; extra bytes 0).
    pub fn encode(&self, [r, g, b]: [u8; 3], out: &mut [u8]) {
        out.fill(0);
        match self.format {
            PixelFormat::Rgb => out[..3].copy_from_slice(&[r, g, b]),
            PixelFormat::Bgr => out[..3].copy_from_slice(&[b, g, r]),
            PixelFormat::Grey => {
                out[0] = ((r as u32 * 77 + g as u32 * 150 + b as u32 * 29) >> 8) as u8
            }
            PixelFormat::Shifts { red, green, blue } => {
                let v = (r as u64) << red | (g as u64) << green | (b as u64) << blue;
                for (i, byte) in out.iter_mut().enumerate().take(8) {
                    *byte = (v >> (8 * i)) as u8;
                }
            }
        }
    }
}

/// The screen background.
pub const BACKGROUND: [u8; 3] = [0, 0, 0];

/// The foreground colour of a cell.
pub fn foreground(attr: Attr) -> [u8; 3] {
    let (normal, bright) = match attr.fg {
        Colour::Default => ([0xcc, 0xcc, 0xcc], [0xff, 0xff, 0xff]),
        Colour::Black => ([0x55, 0x55, 0x55], [0x80, 0x80, 0x80]),
        Colour::Red => ([0xd0, 0x40, 0x40], [0xff, 0x60, 0x60]),
        Colour::Green => ([0x40, 0xc0, 0x40], [0x60, 0xff, 0x60]),
        Colour::Yellow => ([0xd0, 0xb0, 0x30], [0xff, 0xe0, 0x50]),
        Colour::Blue => ([0x50, 0x70, 0xe0], [0x80, 0xa0, 0xff]),
        Colour::Magenta => ([0xc0, 0x50, 0xc0], [0xff, 0x70, 0xff]),
        Colour::Cyan => ([0x40, 0xb8, 0xc8], [0x60, 0xe8, 0xff]),
        Colour::White => ([0xe0, 0xe0, 0xe0], [0xff, 0xff, 0xff]),
    };
    let c = if attr.bold { bright } else { normal };
    if attr.dim {
        c.map(|v| v / 2 + 0x10)
    } else {
        c
    }
}

/// Text columns and rows that fit a `width` x `height` screen in `font`.
pub fn grid_size(font: &Font, width: usize, height: usize) -> (usize, usize) {
    (
        (width / font.width()).max(1),
        (height / font.height()).max(1),
    )
}

/// Draws text row `row` of `grid`. `dst` starts at the first pixel of that
/// row (pixel line `row * font.height()`) and holds `font.height()` pixel
/// lines of `stride` bytes (the last may be short).
pub fn render_row(
    grid: &TextGrid,
    row: usize,
    font: &Font,
    layout: PixelLayout,
    dst: &mut [u8],
    stride: usize,
) {
    render_cells(grid, row, 0..grid.cols(), font, layout, dst, stride)
}

/// Like [`render_row`], for the cells in columns `cols` only.
#[allow(clippy::too_many_arguments)]
pub fn render_cells(
    grid: &TextGrid,
    row: usize,
    cols: core::ops::Range<usize>,
    font: &Font,
    layout: PixelLayout,
    dst: &mut [u8],
    stride: usize,
) {
    let (w, h, bpp) = (font.width(), font.height(), layout.bytes_per_pixel);
    let cursor = grid.cursor();
    let mut bg_px = [0u8; 8];
    let mut fg_px = [0u8; 8];
    let mut px = [0u8; 8];
    for col in cols.start..cols.end.min(grid.cols()) {
        let cell = grid.cell(col, row);
        let (mut fg, mut bg) = (foreground(cell.attr), BACKGROUND);
        if (col, row) == cursor {
            core::mem::swap(&mut fg, &mut bg);
        }
        layout.encode(fg, &mut fg_px[..bpp]);
        layout.encode(bg, &mut bg_px[..bpp]);
        let glyph = font.glyph(cell.ch, cell.attr.bold);
        for (y, coverage) in glyph.iter().enumerate().take(h) {
            let line = y * stride + col * w * bpp;
            for (x, &v) in coverage.iter().enumerate().take(w) {
                let at = line + x * bpp;
                let Some(out) = dst.get_mut(at..at + bpp) else {
                    continue;
                };
                match v {
                    0 => out.copy_from_slice(&bg_px[..bpp]),
                    255 => out.copy_from_slice(&fg_px[..bpp]),
                    _ => {
                        layout.encode(blend(bg, fg, v), &mut px[..bpp]);
                        out.copy_from_slice(&px[..bpp]);
                    }
                }
            }
        }
    }
}

/// Draws the whole grid into a `width` x `height` screen (`dst`, `stride`
/// bytes per pixel line); the margins right and below are background.
pub fn render_screen(
    grid: &TextGrid,
    font: &Font,
    layout: PixelLayout,
    dst: &mut [u8],
    stride: usize,
    width: usize,
    height: usize,
) {
    let bpp = layout.bytes_per_pixel;
    let mut bg = [0u8; 8];
    layout.encode(BACKGROUND, &mut bg[..bpp]);
    for y in 0..height {
        for x in 0..width {
            let at = y * stride + x * bpp;
            dst[at..at + bpp].copy_from_slice(&bg[..bpp]);
        }
    }
    let line = font.height() * stride;
    for row in 0..grid.rows() {
        let start = row * line;
        let end = (start + line).min(dst.len());
        render_row(grid, row, font, layout, &mut dst[start..end], stride);
    }
}

/// `bg` to `fg` by coverage `v` (0..=255), per channel.
fn blend(bg: [u8; 3], fg: [u8; 3], v: u8) -> [u8; 3] {
    let mix =
        |b: u8, f: u8| ((b as u32 * (255 - v as u32) + f as u32 * v as u32 + 127) / 255) as u8;
    [mix(bg[0], fg[0]), mix(bg[1], fg[1]), mix(bg[2], fg[2])]
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn pixel_formats() {
        let mut out = [9u8; 4];
        let c = [0x11, 0x22, 0x33];
        let enc = |format, bpp: usize, out: &mut [u8]| {
            PixelLayout {
                format,
                bytes_per_pixel: bpp,
            }
            .encode(c, &mut out[..bpp])
        };
        enc(PixelFormat::Rgb, 4, &mut out);
        assert_eq!(out, [0x11, 0x22, 0x33, 0]);
        enc(PixelFormat::Bgr, 3, &mut out);
        assert_eq!(out[..3], [0x33, 0x22, 0x11]);
        enc(PixelFormat::Grey, 1, &mut out);
        assert_eq!(out[0], ((0x11 * 77 + 0x22 * 150 + 0x33 * 29) >> 8) as u8);
        let shifts = PixelFormat::Shifts {
            red: 16,
            green: 8,
            blue: 0,
        };
        enc(shifts, 4, &mut out);
        assert_eq!(out, [0x33, 0x22, 0x11, 0]);
    }

    /// The RGB of pixel (x, y) of an RGB24 screen.
    fn at(buf: &[u8], stride: usize, x: usize, y: usize) -> [u8; 3] {
        let i = y * stride + x * 3;
        [buf[i], buf[i + 1], buf[i + 2]]
    }

    #[test]
    fn text_colours_cursor_and_margins() {
        let (width, height) = (100, 40);
        let font = Font::for_resolution(width, height);
        let (cols, rows) = grid_size(&font, width, height);
        assert_eq!((cols, rows), (100 / 9, 2));
        let mut g = TextGrid::new(cols, rows);
        g.write("\x1b[1;32m#\x1b[0m#\r\n");
        let stride = width * 3;
        let mut buf = vec![0x77u8; stride * height];
        render_screen(
            &g,
            &font,
            PixelLayout::RGB24,
            &mut buf,
            stride,
            width,
            height,
        );
        let colours = |x0: usize, y0: usize| {
            let mut seen = alloc::collections::BTreeSet::new();
            for y in y0..y0 + font.height() {
                for x in x0..x0 + font.width() {
                    seen.insert(at(&buf, stride, x, y));
                }
            }
            seen
        };
        // The bold green '#' has full green pixels, the plain one grey.
        assert!(colours(0, 0).contains(&foreground(Attr {
            fg: Colour::Green,
            bold: true,
            dim: false
        })));
        assert!(colours(font.width(), 0)
            .iter()
            .any(|&[r, g, b]| r == g && g == b && r > 0x80));
        // The cursor (row 1, column 0) is a filled block.
        assert!(colours(0, font.height()).contains(&[0xcc, 0xcc, 0xcc]));
        assert!(!colours(font.width(), font.height()).contains(&[0xcc, 0xcc, 0xcc]));
        // Margins are background, not left as they were.
        assert_eq!(at(&buf, stride, width - 1, height - 1), BACKGROUND);
    }

    #[test]
    fn row_rendering_equals_whole_screen_rendering_in_any_layout() {
        let (width, height) = (200, 64);
        let font = Font::for_resolution(width, height);
        let (cols, rows) = grid_size(&font, width, height);
        let mut g = TextGrid::new(cols, rows);
        g.write("hello \x1b[31mworld\x1b[0m\r\nsecond line");
        let layout = PixelLayout {
            format: PixelFormat::Bgr,
            bytes_per_pixel: 4,
        };
        let stride = width * 4 + 12; // padded lines
        let mut full = vec![0u8; stride * height];
        render_screen(&g, &font, layout, &mut full, stride, width, height);
        let mut rows_only = vec![0u8; stride * height];
        for row in 0..rows {
            let start = row * font.height() * stride;
            let end = start + font.height() * stride;
            render_row(&g, row, &font, layout, &mut rows_only[start..end], stride);
        }
        assert_eq!(full, rows_only);
    }
}

//! The linear framebuffer the bootloader set up (VESA on BIOS, GOP on
//! UEFI): its geometry and pixel layout, and writing whole pixel lines.
//! Video memory is only ever written, never read back (reads from it are
//! slow on real hardware).

use bootloader_api::info::{FrameBuffer as BootFrameBuffer, PixelFormat as BootFormat};
use klib::screen::{PixelFormat, PixelLayout};

pub struct FrameBuffer {
    mem: &'static mut [u8],
    pub width: usize,
    pub height: usize,
    /// Bytes from one pixel line to the next.
    pub stride: usize,
    pub layout: PixelLayout,
}

impl FrameBuffer {
    /// Takes over the bootloader's framebuffer; `None` (with the reason)
    /// if its pixel layout is one we cannot draw.
    pub fn new(fb: BootFrameBuffer) -> Result<FrameBuffer, &'static str> {
        let info = fb.info();
        let format = match info.pixel_format {
            BootFormat::Rgb => PixelFormat::Rgb,
            BootFormat::Bgr => PixelFormat::Bgr,
            BootFormat::U8 => PixelFormat::Grey,
            BootFormat::Unknown {
                red_position,
                green_position,
                blue_position,
            } => PixelFormat::Shifts {
                red: red_position,
                green: green_position,
                blue: blue_position,
            },
            _ => return Err("unknown pixel format"),
        };
        let bpp = info.bytes_per_pixel;
        let needs_bytes = match format {
            PixelFormat::Rgb | PixelFormat::Bgr => 3,
            PixelFormat::Grey => 1,
            PixelFormat::Shifts { red, green, blue } => {
                (red.max(green).max(blue) as usize + 8).div_ceil(8)
            }
        };
        if bpp == 0 || bpp > 8 || bpp < needs_bytes {
            return Err("unsupported bytes per pixel");
        }
        let stride = info.stride * bpp;
        if info.width == 0 || info.height == 0 || stride * info.height > info.byte_len {
            return Err("inconsistent geometry");
        }
        Ok(FrameBuffer {
            mem: fb.into_buffer(),
            width: info.width,
            height: info.height,
            stride,
            layout: PixelLayout {
                format,
                bytes_per_pixel: bpp,
            },
        })
    }

    /// Bytes of a whole screen (`stride * height`).
    pub fn len(&self) -> usize {
        self.stride * self.height
    }

    /// Copies bytes `bytes` of each pixel line in `lines` out of `shadow`
    /// (a rectangle).
    pub fn copy_rect(
        &mut self,
        shadow: &[u8],
        lines: core::ops::Range<usize>,
        bytes: core::ops::Range<usize>,
    ) {
        let end = bytes.end.min(self.stride);
        if bytes.start >= end {
            return;
        }
        for y in lines.start..lines.end.min(self.height) {
            let (from, to) = (y * self.stride + bytes.start, y * self.stride + end);
            self.mem[from..to].copy_from_slice(&shadow[from..to]);
        }
    }

    /// Copies pixel lines `lines` out of `shadow` (a RAM copy laid out
    /// like the framebuffer).
    pub fn copy_lines(&mut self, shadow: &[u8], lines: core::ops::Range<usize>) {
        let end = lines.end.min(self.height);
        if lines.start >= end {
            return;
        }
        let (from, to) = (lines.start * self.stride, end * self.stride);
        self.mem[from..to].copy_from_slice(&shadow[from..to]);
    }
}

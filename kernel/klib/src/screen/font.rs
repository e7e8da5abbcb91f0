//! The console font: Noto Sans Mono, pre-rasterized with 8-bit coverage
//! (the `noto-sans-mono-bitmap` crate, which the bootloader uses too), in
//! a size chosen from the screen resolution.

use noto_sans_mono_bitmap::{get_raster, get_raster_width, FontWeight, RasterHeight};

/// Shown for characters the font does not have.
const MISSING: char = '?';

#[derive(Clone, Copy, Debug)]
pub struct Font {
    size: RasterHeight,
}

impl Font {
    /// The largest size that still gives at least 100 columns and 30 rows
    /// (16 px below that): 16 px at 640x480 and 800x600, 20 px at
    /// 1280x720, 24 px at 1600x900, 32 px at 1920x1080 and up to 4K.
    pub fn for_resolution(width: usize, height: usize) -> Font {
        let sizes = [
            RasterHeight::Size32,
            RasterHeight::Size24,
            RasterHeight::Size20,
        ];
        let size = sizes
            .into_iter()
            .find(|&s| {
                let f = Font { size: s };
                width / f.width() >= 100 && height / f.height() >= 30
            })
            .unwrap_or(RasterHeight::Size16);
        Font { size }
    }

    /// The glyph height in pixels (16, 20, 24 or 32): the cell height.
    pub fn height(&self) -> usize {
        self.size.val()
    }

    /// The cell width in pixels (the font is monospaced).
    pub fn width(&self) -> usize {
        get_raster_width(FontWeight::Regular, self.size)
    }

    /// Coverage rows (`height()` rows of `width()` bytes, 0..=255) of `c`.
    pub fn glyph(&self, c: char, bold: bool) -> &'static [&'static [u8]] {
        let weight = if bold {
            FontWeight::Bold
        } else {
            FontWeight::Regular
        };
        get_raster(c, weight, self.size)
            .or_else(|| get_raster(MISSING, weight, self.size))
            .expect("the font has '?'")
            .raster()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_grows_with_the_resolution() {
        let h = |w, h| Font::for_resolution(w, h).height();
        assert_eq!(h(640, 480), 16);
        assert_eq!(h(800, 600), 16);
        assert_eq!(h(1280, 720), 20);
        assert_eq!(h(1280, 800), 20);
        assert_eq!(h(1920, 1080), 32);
        assert_eq!(h(3840, 2160), 32);
        // Tiny or odd screens still get a font.
        assert_eq!(h(320, 200), 16);
        assert_eq!(h(0, 0), 16);
    }

    #[test]
    fn glyphs_have_the_cell_size_and_unknown_chars_fall_back() {
        let f = Font::for_resolution(1280, 720);
        for c in ['A', 'é', '\u{2603}'] {
            let g = f.glyph(c, false);
            assert_eq!(g.len(), f.height());
            assert!(g.iter().all(|r| r.len() == f.width()));
        }
        assert_eq!(f.glyph('\u{2603}', true), f.glyph('?', true));
        // 'A' has ink, ' ' has none.
        assert!(f
            .glyph('A', false)
            .iter()
            .flat_map(|r| r.iter())
            .any(|&v| v > 200));
        assert!(f
            .glyph(' ', false)
            .iter()
            .flat_map(|r| r.iter())
            .all(|&v| v == 0));
    }
}

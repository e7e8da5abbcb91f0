//! The screen console's hardware-free part: the text grid fed by the
//! console's byte stream ([`grid`]), the font ([`font`]) and drawing text
//! into pixels of any framebuffer layout ([`render`]). The kernel keeps a
//! RAM shadow of the framebuffer and copies changed lines out
//! (`kernel/src/console/screen.rs`); the QEMU screen test renders the
//! expected screen with the same code.

pub mod font;
pub mod grid;
pub mod render;

pub use font::Font;
pub use grid::TextGrid;
pub use render::{PixelFormat, PixelLayout};

//! Device drivers.

pub mod framebuffer;
pub mod fw_cfg;
pub mod pci;
pub mod ps2_keyboard;
pub mod rtc;
pub mod serial;
pub mod virtio;
pub mod xhci;

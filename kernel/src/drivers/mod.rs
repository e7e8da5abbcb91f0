//! Device drivers.

pub mod fw_cfg;
pub mod pci;
pub mod rtc;
pub mod serial;
pub mod virtio;

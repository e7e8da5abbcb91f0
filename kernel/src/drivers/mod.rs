//! Device drivers.

pub mod fw_cfg;
pub mod pci;
pub mod virtio;
pub mod serial;

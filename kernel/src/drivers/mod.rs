//! Device drivers.

pub mod fw_cfg;
pub mod serial;

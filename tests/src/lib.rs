//! The QEMU test harness (to be written).

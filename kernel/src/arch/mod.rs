//! Architecture-specific code. Only x86_64 exists; the rest of the kernel
//! uses what this module re-exports.

pub mod x86_64;

pub use self::x86_64::cpu::halt_forever;
pub use self::x86_64::{cpu_info, qemu, smp};

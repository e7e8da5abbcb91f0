//! The kernel's real entry point.
//!
//! The bootloader jumps to `_start` with the boot info pointer in `rdi`. The
//! kernel is compiled with SSE enabled, but the BIOS boot path arrives with
//! SSE off (CR4 = 0x20), so no Rust code may run before this stub has turned
//! on the FPU/SSE (and XSAVE/AVX where the CPU has them).
//!
//! Afterwards it jumps to [`crate::kernel_entry`]. This replaces
//! `bootloader_api::entry_point!`, whose generated `_start` is Rust code.

use bootloader_api::config::Mapping;
use bootloader_api::BootloaderConfig;

/// What the bootloader sets up for us.
pub const BOOTLOADER_CONFIG: BootloaderConfig = {
    let mut config = BootloaderConfig::new_default();
    // All physical memory mapped at an offset of the bootloader's choosing
    // (at least the low 4 GiB: MMIO above that is mapped on demand).
    config.mappings.physical_memory = Some(Mapping::Dynamic);
    // Boot stack, used until the kernel switches to its own guarded stack.
    config.kernel_stack_size = 256 * 1024;
    config
};

/// The serialized config the bootloader reads from the kernel ELF.
// SAFETY: the section holds only this byte array, which the bootloader
// reads from the ELF file; nothing else is placed in or expects that section.
#[unsafe(link_section = ".bootloader-config")]
static BOOTLOADER_CONFIG_BYTES: [u8; BootloaderConfig::SERIALIZED_LEN] =
    BOOTLOADER_CONFIG.serialize();

/// Referencing the config from code keeps the linker from discarding it
/// (the same workaround `entry_point!` uses, rust-osdev/bootloader#427).
static BOOTLOADER_CONFIG_REF: &[u8; BootloaderConfig::SERIALIZED_LEN] = &BOOTLOADER_CONFIG_BYTES;

/// Called once from `kernel_entry` so the config stays in the image.
pub fn keep_bootloader_config() {
    bootloader_api::__force_use(&BOOTLOADER_CONFIG_REF);
}

/// The initial MXCSR: all exceptions masked (0x1f80) plus the sticky
/// "precision" flag (PE, 0x20). Under QEMU TCG, float operations run 2-4x
/// slower while PE is clear (every op then re-checks for inexact results).
pub const MXCSR_INIT: u32 = 0x1fa0;

core::arch::global_asm!(
    ".global _start",
    "_start:",
    // rdi = &mut BootInfo: keep it in r12 (cpuid clobbers rax/rbx/rcx/rdx).
    "mov r12, rdi",
    // CR0: MP (bit 1) on, EM (bit 2) off, TS (bit 3) off -> FPU/SSE usable.
    "mov rax, cr0",
    "and rax, ~((1 << 2) | (1 << 3))",
    "or rax, (1 << 1)",
    "mov cr0, rax",
    // CR4: OSFXSR (bit 9) and OSXMMEXCPT (bit 10) -> SSE and #XM.
    "mov rax, cr4",
    "or rax, (1 << 9) | (1 << 10)",
    "mov cr4, rax",
    // CPUID.1:ECX bit 26 = XSAVE, bit 28 = AVX.
    "mov eax, 1",
    "xor ecx, ecx",
    "cpuid",
    "mov r13d, ecx",
    "bt r13d, 26",
    "jnc 2f",
    // CR4.OSXSAVE (bit 18), then XCR0 = x87 | SSE (| AVX).
    "mov rax, cr4",
    "or rax, (1 << 18)",
    "mov cr4, rax",
    "mov eax, 3",
    "bt r13d, 28",
    "jnc 1f",
    "or eax, 4",
    "1:",
    "xor ecx, ecx",
    "xor edx, edx",
    "xsetbv",
    "2:",
    "fninit",
    // MXCSR from a stack slot; keep the stack as the bootloader left it.
    "sub rsp, 8",
    "mov dword ptr [rsp], {mxcsr}",
    "ldmxcsr [rsp]",
    "add rsp, 8",
    "mov rdi, r12",
    "jmp {entry}",
    mxcsr = const MXCSR_INIT,
    entry = sym crate::kernel_entry,
);

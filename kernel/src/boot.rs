//! Facts from the bootloader's `BootInfo` that the kernel keeps.

use bootloader_api::info::MemoryRegionKind;
use bootloader_api::BootInfo;
use spin::Once;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootMode {
    Bios,
    Uefi,
    Unknown,
}

impl BootMode {
    pub fn name(self) -> &'static str {
        match self {
            BootMode::Bios => "BIOS",
            BootMode::Uefi => "UEFI",
            BootMode::Unknown => "unknown firmware",
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Facts {
    pub mode: BootMode,
    pub rsdp: Option<u64>,
    /// Virtual address and length of the ramdisk, if one was loaded.
    pub ramdisk: Option<(u64, u64)>,
    /// A free 4 KiB page of RAM below 1 MiB for the trampoline that starts
    /// the other CPUs (0x8000 when that is free).
    pub trampoline_page: Option<u64>,
}

static FACTS: Once<Facts> = Once::new();

pub fn record(info: &BootInfo) {
    // The bootloader labels memory it does not hand over with the
    // firmware's own type: UEFI memory types on UEFI, E820 types on BIOS.
    let mode = info
        .memory_regions
        .iter()
        .find_map(|r| match r.kind {
            MemoryRegionKind::UnknownUefi(_) => Some(BootMode::Uefi),
            MemoryRegionKind::UnknownBios(_) => Some(BootMode::Bios),
            _ => None,
        })
        .unwrap_or(BootMode::Unknown);
    let ramdisk = info
        .ramdisk_addr
        .into_option()
        .map(|addr| (addr, info.ramdisk_len));
    let usable = |p: u64| {
        info.memory_regions
            .iter()
            .any(|r| r.kind == MemoryRegionKind::Usable && r.start <= p && p + 4096 <= r.end)
    };
    let trampoline_page = core::iter::once(0x8000)
        .chain((1..0x9f).map(|n| n * 0x1000))
        .find(|&p| usable(p));
    FACTS.call_once(|| Facts {
        mode,
        rsdp: info.rsdp_addr.into_option(),
        ramdisk,
        trampoline_page,
    });
}

pub fn facts() -> &'static Facts {
    FACTS.get().expect("boot facts not recorded")
}

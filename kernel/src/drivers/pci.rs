//! PCI configuration space through the legacy mechanism #1 (I/O ports
//! 0xcf8/0xcfc), bus enumeration, BARs and capabilities.
//!
//! Enumeration is a brute-force scan of every bus/device/function: cheap
//! (a few thousand port accesses) and independent of how the firmware
//! numbered the bridges. BARs are left where the firmware put them (OVMF
//! places 64-bit BARs near 0xe0_0000_0000; map them with
//! [`crate::mm::paging::map_mmio`]).

use alloc::vec::Vec;
use core::fmt;
use spin::Mutex;
use x86_64::instructions::port::Port;

/// The address/data port pair is one shared register window: every access
/// goes through this lock (interrupt handlers do not touch PCI).
static CONFIG: Mutex<()> = Mutex::new(());

/// Bus, device, function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Address {
    pub bus: u8,
    pub device: u8,
    pub function: u8,
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02x}:{:02x}.{}", self.bus, self.device, self.function)
    }
}

fn config_address(a: Address, offset: u16) -> u32 {
    0x8000_0000
        | (a.bus as u32) << 16
        | (a.device as u32 & 0x1f) << 11
        | (a.function as u32 & 0x7) << 8
        | (offset as u32 & 0xfc)
}

/// Reads the 32-bit register at `offset` (rounded down to 4).
pub fn read32(a: Address, offset: u16) -> u32 {
    let _guard = CONFIG.lock();
    // SAFETY: configuration mechanism #1: write the address register, read
    // the data register; the lock keeps the pair together.
    unsafe {
        Port::<u32>::new(0xcf8).write(config_address(a, offset));
        Port::<u32>::new(0xcfc).read()
    }
}

/// Writes the 32-bit register at `offset` (rounded down to 4).
pub fn write32(a: Address, offset: u16, v: u32) {
    let _guard = CONFIG.lock();
    // SAFETY: as in read32.
    unsafe {
        Port::<u32>::new(0xcf8).write(config_address(a, offset));
        Port::<u32>::new(0xcfc).write(v)
    }
}

pub fn read16(a: Address, offset: u16) -> u16 {
    (read32(a, offset) >> ((offset & 2) * 8)) as u16
}

pub fn read8(a: Address, offset: u16) -> u8 {
    (read32(a, offset) >> ((offset & 3) * 8)) as u8
}

pub fn write16(a: Address, offset: u16, v: u16) {
    let shift = (offset & 2) * 8;
    let old = read32(a, offset) & !(0xffff << shift);
    write32(a, offset, old | (v as u32) << shift);
}

const COMMAND: u16 = 0x04;
const COMMAND_IO: u16 = 1 << 0;
const COMMAND_MEMORY: u16 = 1 << 1;
const COMMAND_BUS_MASTER: u16 = 1 << 2;
const COMMAND_INTX_DISABLE: u16 = 1 << 10;
const STATUS_CAPABILITIES: u16 = 1 << 4;

/// One function found on the bus.
#[derive(Clone, Copy, Debug)]
pub struct Device {
    pub address: Address,
    pub vendor: u16,
    pub device: u16,
    pub class: u8,
    pub subclass: u8,
    pub prog_if: u8,
}

static DEVICES: spin::Once<Vec<Device>> = spin::Once::new();

/// The functions found at boot (scanned on first use).
pub fn devices() -> &'static [Device] {
    DEVICES.call_once(scan)
}

/// Every function on every bus.
fn scan() -> Vec<Device> {
    let mut found = Vec::new();
    for bus in 0..=255u8 {
        for device in 0..32u8 {
            let a0 = Address {
                bus,
                device,
                function: 0,
            };
            if read16(a0, 0) == 0xffff {
                continue;
            }
            let multi = read8(a0, 0x0e) & 0x80 != 0;
            for function in 0..if multi { 8 } else { 1 } {
                let a = Address {
                    bus,
                    device,
                    function,
                };
                let id = read32(a, 0);
                if id & 0xffff == 0xffff {
                    continue;
                }
                let class = read32(a, 0x08);
                found.push(Device {
                    address: a,
                    vendor: id as u16,
                    device: (id >> 16) as u16,
                    class: (class >> 24) as u8,
                    subclass: (class >> 16) as u8,
                    prog_if: (class >> 8) as u8,
                });
            }
        }
    }
    found
}

/// A base address register, decoded and sized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bar {
    Memory {
        phys: u64,
        size: u64,
        prefetchable: bool,
    },
    Io {
        port: u16,
        size: u32,
    },
}

/// BAR `index` (0..6) of a type-0 header, sized by the usual write-ones
/// probe with decoding switched off meanwhile. `None` if it is unused.
pub fn bar(a: Address, index: u8) -> Option<Bar> {
    if index >= 6 {
        return None;
    }
    let off = 0x10 + 4 * index as u16;
    let command = read16(a, COMMAND);
    write16(a, COMMAND, command & !(COMMAND_IO | COMMAND_MEMORY));
    let low = read32(a, off);
    let result = if low & 1 == 1 {
        write32(a, off, 0xffff_ffff);
        let mask = read32(a, off) & 0xffff_fffc;
        write32(a, off, low);
        let size = (!mask).wrapping_add(1) & 0xffff;
        (mask != 0).then_some(Bar::Io {
            port: (low & 0xfffc) as u16,
            size,
        })
    } else {
        let is64 = (low >> 1) & 3 == 2;
        write32(a, off, 0xffff_ffff);
        let mask_lo = read32(a, off) & 0xffff_fff0;
        write32(a, off, low);
        let (high, mask_hi) = if is64 && index < 5 {
            let high = read32(a, off + 4);
            write32(a, off + 4, 0xffff_ffff);
            let m = read32(a, off + 4);
            write32(a, off + 4, high);
            (high, m)
        } else {
            (0, if mask_lo == 0 { 0 } else { 0xffff_ffff })
        };
        let mask = (mask_hi as u64) << 32 | mask_lo as u64;
        let size = (!mask).wrapping_add(1);
        (mask_lo != 0 || mask_hi != 0).then_some(Bar::Memory {
            phys: (high as u64) << 32 | (low & 0xffff_fff0) as u64,
            size,
            prefetchable: low & 8 != 0,
        })
    };
    write16(a, COMMAND, command);
    result
}

/// Offsets and IDs of the function's capabilities.
pub fn capabilities(a: Address) -> Vec<(u8, u8)> {
    let mut caps = Vec::new();
    if read16(a, 0x06) & STATUS_CAPABILITIES == 0 {
        return caps;
    }
    let mut ptr = read8(a, 0x34) & 0xfc;
    // A bounded walk: a broken list must not loop forever.
    for _ in 0..48 {
        if ptr < 0x40 {
            break;
        }
        caps.push((ptr, read8(a, ptr as u16)));
        ptr = read8(a, ptr as u16 + 1) & 0xfc;
    }
    caps
}

/// Lets the function decode its memory BARs and master the bus (DMA);
/// legacy INTx stays off (our drivers poll).
pub fn enable_memory_and_dma(a: Address) {
    let c = read16(a, COMMAND);
    write16(
        a,
        COMMAND,
        c | COMMAND_MEMORY | COMMAND_BUS_MASTER | COMMAND_INTX_DISABLE,
    );
}

/// A short name for a class code, for listings.
pub fn class_name(class: u8, subclass: u8) -> &'static str {
    match (class, subclass) {
        (0x01, 0x00) => "SCSI storage",
        (0x01, 0x01) => "IDE storage",
        (0x01, 0x06) => "SATA storage",
        (0x01, 0x08) => "NVMe storage",
        (0x01, _) => "storage",
        (0x02, _) => "network",
        (0x03, _) => "display",
        (0x06, 0x00) => "host bridge",
        (0x06, 0x01) => "ISA bridge",
        (0x06, 0x04) => "PCI bridge",
        (0x06, _) => "bridge",
        (0x0c, 0x03) => "USB",
        (0x0c, 0x05) => "SMBus",
        _ => "other",
    }
}

//! I/O APICs: route device interrupt lines (GSIs) to vectors on a CPU.
//! Their addresses and the ISA IRQ overrides come from the ACPI MADT.

use crate::mm;
use alloc::vec::Vec;
use spin::Mutex;
use x86_64::{PhysAddr, VirtAddr};

const IOREGSEL: u64 = 0x00;
const IOWIN: u64 = 0x10;
const REG_VERSION: u32 = 0x01;
const REDIRECTION_BASE: u32 = 0x10;

const ENTRY_MASKED: u64 = 1 << 16;
const ENTRY_LEVEL: u64 = 1 << 15;
const ENTRY_ACTIVE_LOW: u64 = 1 << 13;

/// How a line signals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trigger {
    pub level: bool,
    pub active_low: bool,
}

impl Trigger {
    /// ISA default: edge triggered, active high.
    pub const ISA: Trigger = Trigger {
        level: false,
        active_low: false,
    };
}

/// An ISA IRQ that is wired to a different GSI or signals differently.
#[derive(Clone, Copy, Debug)]
pub struct IsaOverride {
    pub irq: u8,
    pub gsi: u32,
    pub trigger: Trigger,
}

struct IoApic {
    base: VirtAddr,
    gsi_base: u32,
    entries: u32,
}

impl IoApic {
    fn read(&self, reg: u32) -> u32 {
        // SAFETY: IOREGSEL/IOWIN of a mapped, uncached IOAPIC; the pair is
        // only used under the IOAPICS lock.
        unsafe {
            (self.base + IOREGSEL)
                .as_mut_ptr::<u32>()
                .write_volatile(reg);
            (self.base + IOWIN).as_ptr::<u32>().read_volatile()
        }
    }

    fn write(&self, reg: u32, v: u32) {
        // SAFETY: as in `read`.
        unsafe {
            (self.base + IOREGSEL)
                .as_mut_ptr::<u32>()
                .write_volatile(reg);
            (self.base + IOWIN).as_mut_ptr::<u32>().write_volatile(v);
        }
    }

    fn set_entry(&self, index: u32, entry: u64) {
        let reg = REDIRECTION_BASE + 2 * index;
        // Mask first, write the high half, then the low half (unmasking).
        self.write(reg, ENTRY_MASKED as u32);
        self.write(reg + 1, (entry >> 32) as u32);
        self.write(reg, entry as u32);
    }
}

struct State {
    ioapics: Vec<IoApic>,
    overrides: Vec<IsaOverride>,
}

static STATE: Mutex<State> = Mutex::new(State {
    ioapics: Vec::new(),
    overrides: Vec::new(),
});

/// Maps each IOAPIC `(physical address, first GSI)` and masks all its lines.
pub fn init(ioapics: &[(u64, u32)], overrides: &[IsaOverride]) {
    let mut st = STATE.lock();
    for &(phys, gsi_base) in ioapics {
        let base = mm::paging::map_mmio(PhysAddr::new(phys), mm::PAGE_SIZE)
            .expect("could not map an IOAPIC");
        let mut io = IoApic {
            base,
            gsi_base,
            entries: 0,
        };
        io.entries = ((io.read(REG_VERSION) >> 16) & 0xff) + 1;
        for i in 0..io.entries {
            io.set_entry(i, ENTRY_MASKED);
        }
        log::debug!(
            "IOAPIC at {phys:#x}: GSIs {}..{}",
            gsi_base,
            gsi_base + io.entries
        );
        st.ioapics.push(io);
    }
    st.overrides = overrides.to_vec();
}

/// Routes `gsi` to `vector` on the CPU with APIC id `apic_id`, unmasked.
pub fn route(gsi: u32, vector: u8, apic_id: u32, trigger: Trigger) -> Result<(), &'static str> {
    let st = STATE.lock();
    let io = st
        .ioapics
        .iter()
        .find(|io| (io.gsi_base..io.gsi_base + io.entries).contains(&gsi))
        .ok_or("no IOAPIC serves this GSI")?;
    let mut entry = vector as u64 | ((apic_id as u64 & 0xff) << 56);
    if trigger.level {
        entry |= ENTRY_LEVEL;
    }
    if trigger.active_low {
        entry |= ENTRY_ACTIVE_LOW;
    }
    io.set_entry(gsi - io.gsi_base, entry);
    Ok(())
}

/// Routes ISA IRQ `irq` (e.g. 4 for COM1), honouring the MADT overrides.
pub fn route_isa(irq: u8, vector: u8, apic_id: u32) -> Result<u32, &'static str> {
    let (gsi, trigger) = {
        let st = STATE.lock();
        match st.overrides.iter().find(|o| o.irq == irq) {
            Some(o) => (o.gsi, o.trigger),
            None => (irq as u32, Trigger::ISA),
        }
    };
    route(gsi, vector, apic_id, trigger)?;
    Ok(gsi)
}

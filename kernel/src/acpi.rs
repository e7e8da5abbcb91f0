//! ACPI tables (`acpi` crate): where the interrupt controllers are (MADT),
//! the PM timer and power-off registers (FADT), and the S5 sleep type
//! (`_S5_` in the DSDT, see [`klib::aml`]).
//!
//! Without usable ACPI tables the kernel falls back to the PC defaults
//! (local APIC from its MSR, one IOAPIC at 0xfec00000, PIT) and cannot
//! power off through ACPI.

use crate::arch::x86_64::ioapic::{IsaOverride, Trigger};
use crate::drivers::pci;
use crate::mm::paging::phys_to_virt;
use crate::time::Reference;
use ::acpi::address::AddressSpace;
use ::acpi::platform::interrupt::{InterruptModel, Polarity, TriggerMode};
use ::acpi::platform::ProcessorState;
use ::acpi::sdt::fadt::Fadt;
use ::acpi::{AcpiTables, Handler, PciAddress, PhysicalMapping};
use alloc::string::String;
use alloc::vec::Vec;
use core::ptr::NonNull;
use klib::aml::SleepTypes;
use spin::Once;
use x86_64::instructions::port::Port;
use x86_64::PhysAddr;

/// What the kernel learnt from the ACPI tables (or the PC defaults).
#[derive(Debug)]
pub struct Platform {
    /// Whether the facts come from ACPI tables.
    pub from_acpi: bool,
    pub oem_id: String,
    pub local_apic: Option<u64>,
    /// `(physical address, first GSI)` of each IOAPIC.
    pub ioapics: Vec<(u64, u32)>,
    pub isa_overrides: Vec<IsaOverride>,
    /// Enabled CPUs listed in the MADT (this one included).
    pub cpus: usize,
    /// Local APIC ids of the enabled application processors (MADT order).
    pub ap_apic_ids: Vec<u32>,
    pub clock: Reference,
    pub power_off: Option<PowerOff>,
}

/// The registers for entering S5 (soft off).
#[derive(Clone, Copy, Debug)]
pub struct PowerOff {
    pub pm1a_control: u16,
    pub pm1b_control: Option<u16>,
    pub sleep_types: SleepTypes,
    pub smi_command: u16,
    pub acpi_enable: u8,
}

static PLATFORM: Once<Platform> = Once::new();

pub fn platform() -> &'static Platform {
    PLATFORM.get().expect("ACPI not initialised")
}

/// Reads the tables behind `rsdp` (the bootloader found it).
pub fn init(rsdp: Option<u64>) -> &'static Platform {
    PLATFORM.call_once(|| match rsdp.map(parse) {
        Some(Ok(p)) => p,
        Some(Err(e)) => {
            log::warn!("ACPI tables unusable ({e}); using PC defaults");
            defaults()
        }
        None => {
            log::warn!("no ACPI RSDP; using PC defaults");
            defaults()
        }
    })
}

fn defaults() -> Platform {
    Platform {
        from_acpi: false,
        oem_id: String::from("?"),
        local_apic: None,
        ioapics: alloc::vec![(0xfec0_0000, 0)],
        isa_overrides: Vec::new(),
        cpus: 1,
        ap_apic_ids: Vec::new(),
        clock: Reference::Pit,
        power_off: None,
    }
}

fn parse(rsdp: u64) -> Result<Platform, &'static str> {
    let tables =
        // SAFETY: the bootloader found a valid RSDP at this address.
        unsafe { AcpiTables::from_rsdp(KernelAcpi, rsdp as usize) }.map_err(|_| "bad RSDP/XSDT")?;
    let (model, processors) = InterruptModel::new(&tables).map_err(|_| "bad MADT")?;
    let InterruptModel::Apic(apic) = model else {
        return Err("MADT describes no APIC");
    };
    let trigger = |p: Polarity, t: TriggerMode| Trigger {
        level: t == TriggerMode::Level,
        active_low: p == Polarity::ActiveLow,
    };
    let isa_overrides = apic
        .interrupt_source_overrides
        .iter()
        .map(|o| IsaOverride {
            irq: o.isa_source,
            gsi: o.global_system_interrupt,
            trigger: trigger(o.polarity, o.trigger_mode),
        })
        .collect();
    let ap_apic_ids: Vec<u32> = processors.map_or(Vec::new(), |p| {
        p.application_processors
            .iter()
            .filter(|ap| ap.state != ProcessorState::Disabled)
            .map(|ap| ap.local_apic_id)
            .collect()
    });
    let cpus = 1 + ap_apic_ids.len();
    let fadt = tables.find_table::<Fadt>().ok_or("no FADT")?;
    let oem_id = { fadt.header.oem_id }
        .iter()
        .map(|&b| b as char)
        .collect::<String>()
        .trim()
        .into();
    let io_port = |g: ::acpi::address::GenericAddress| {
        (g.address_space == AddressSpace::SystemIo && g.address != 0 && g.address <= 0xffff)
            .then_some(g.address as u16)
    };
    let clock = match fadt.pm_timer_block() {
        Ok(Some(g)) => match io_port(g) {
            Some(port) => Reference::PmTimer {
                port,
                bits32: { fadt.flags }.pm_timer_is_32_bit(),
            },
            None => Reference::Pit,
        },
        _ => Reference::Pit,
    };
    let power_off = (|| {
        let pm1a_control = io_port(fadt.pm1a_control_block().ok()?)?;
        let pm1b_control = fadt.pm1b_control_block().ok().flatten().and_then(io_port);
        let dsdt = tables.dsdt().ok()?;
        let header = core::mem::size_of::<::acpi::sdt::SdtHeader>();
        let len = (dsdt.length as usize).checked_sub(header)?;
        // SAFETY: the DSDT lies in firmware-reserved RAM, which the
        // physical-memory mapping covers, and is never written.
        let aml = unsafe {
            core::slice::from_raw_parts(
                phys_to_virt(PhysAddr::new((dsdt.phys_address + header) as u64)).as_ptr::<u8>(),
                len,
            )
        };
        let sleep_types = klib::aml::find_s5(aml)?;
        Some(PowerOff {
            pm1a_control,
            pm1b_control,
            sleep_types,
            smi_command: { fadt.smi_cmd_port } as u16,
            acpi_enable: { fadt.acpi_enable },
        })
    })();
    if power_off.is_none() {
        log::warn!("ACPI: no S5 sleep state found; /shutdown cannot power off");
    }
    Ok(Platform {
        from_acpi: true,
        oem_id,
        local_apic: Some(apic.local_apic_address),
        ioapics: apic
            .io_apics
            .iter()
            .map(|io| (io.address as u64, io.global_system_interrupt_base))
            .collect(),
        isa_overrides,
        cpus,
        ap_apic_ids,
        clock,
        power_off,
    })
}

/// Enters S5. Returns only if the machine is still running afterwards.
pub fn enter_s5(p: &PowerOff) {
    const SCI_EN: u16 = 1 << 0;
    const SLP_EN: u16 = 1 << 13;
    let mut pm1a = Port::<u16>::new(p.pm1a_control);
    // SAFETY: PM1a_CNT (from the FADT) is the ACPI power-management control
    // register; SMI_CMD/ACPI_ENABLE is the documented way into ACPI mode.
    unsafe {
        if pm1a.read() & SCI_EN == 0 && p.smi_command != 0 && p.acpi_enable != 0 {
            Port::<u8>::new(p.smi_command).write(p.acpi_enable);
            for _ in 0..300 {
                if pm1a.read() & SCI_EN != 0 {
                    break;
                }
                crate::time::busy_wait(core::time::Duration::from_millis(1));
            }
        }
        let a = pm1a.read() & !(0b111 << 10);
        pm1a.write(a | ((p.sleep_types.a as u16 & 0b111) << 10) | SLP_EN);
        if let Some(b_port) = p.pm1b_control {
            let mut pm1b = Port::<u16>::new(b_port);
            let b = pm1b.read() & !(0b111 << 10);
            pm1b.write(b | ((p.sleep_types.b as u16 & 0b111) << 10) | SLP_EN);
        }
    }
    crate::time::busy_wait(core::time::Duration::from_millis(500));
}

/// The `acpi` crate's window onto the machine.
#[derive(Clone, Copy, Debug)]
struct KernelAcpi;

fn mem<T>(address: usize) -> *mut T {
    phys_to_virt(PhysAddr::new(address as u64)).as_mut_ptr()
}

fn pci_address(a: PciAddress) -> pci::Address {
    pci::Address {
        bus: a.bus(),
        device: a.device(),
        function: a.function(),
    }
}

fn pci_read32(a: PciAddress, offset: u16) -> u32 {
    pci::read32(pci_address(a), offset)
}

fn pci_write32(a: PciAddress, offset: u16, v: u32) {
    pci::write32(pci_address(a), offset, v)
}

// The tables are in RAM covered by the physical-memory mapping; the
// accessors are what AML would use (not run by this kernel yet).
impl Handler for KernelAcpi {
    unsafe fn map_physical_region<T>(&self, phys: usize, size: usize) -> PhysicalMapping<Self, T> {
        PhysicalMapping {
            physical_start: phys,
            virtual_start: NonNull::new(mem::<T>(phys)).expect("null mapping"),
            region_length: size,
            mapped_length: size,
            handler: *self,
        }
    }
    fn unmap_physical_region<T>(_region: &PhysicalMapping<Self, T>) {}

    // SAFETY (all memory accessors): physical RAM/low MMIO through the
    // physical-memory mapping, at addresses the ACPI tables name.
    fn read_u8(&self, a: usize) -> u8 {
        // SAFETY: an address the ACPI tables name, through the physical map.
        unsafe { mem::<u8>(a).read_volatile() }
    }
    fn read_u16(&self, a: usize) -> u16 {
        // SAFETY: an address the ACPI tables name, through the physical map.
        unsafe { mem::<u16>(a).read_volatile() }
    }
    fn read_u32(&self, a: usize) -> u32 {
        // SAFETY: an address the ACPI tables name, through the physical map.
        unsafe { mem::<u32>(a).read_volatile() }
    }
    fn read_u64(&self, a: usize) -> u64 {
        // SAFETY: an address the ACPI tables name, through the physical map.
        unsafe { mem::<u64>(a).read_volatile() }
    }
    fn write_u8(&self, a: usize, v: u8) {
        // SAFETY: an address the ACPI tables name, through the physical map.
        unsafe { mem::<u8>(a).write_volatile(v) }
    }
    fn write_u16(&self, a: usize, v: u16) {
        // SAFETY: an address the ACPI tables name, through the physical map.
        unsafe { mem::<u16>(a).write_volatile(v) }
    }
    fn write_u32(&self, a: usize, v: u32) {
        // SAFETY: an address the ACPI tables name, through the physical map.
        unsafe { mem::<u32>(a).write_volatile(v) }
    }
    fn write_u64(&self, a: usize, v: u64) {
        // SAFETY: an address the ACPI tables name, through the physical map.
        unsafe { mem::<u64>(a).write_volatile(v) }
    }

    // SAFETY (all port accessors): I/O ports the ACPI tables name.
    fn read_io_u8(&self, port: u16) -> u8 {
        // SAFETY: an I/O port the ACPI tables name.
        unsafe { Port::new(port).read() }
    }
    fn read_io_u16(&self, port: u16) -> u16 {
        // SAFETY: an I/O port the ACPI tables name.
        unsafe { Port::new(port).read() }
    }
    fn read_io_u32(&self, port: u16) -> u32 {
        // SAFETY: an I/O port the ACPI tables name.
        unsafe { Port::new(port).read() }
    }
    fn write_io_u8(&self, port: u16, v: u8) {
        // SAFETY: an I/O port the ACPI tables name.
        unsafe { Port::new(port).write(v) }
    }
    fn write_io_u16(&self, port: u16, v: u16) {
        // SAFETY: an I/O port the ACPI tables name.
        unsafe { Port::new(port).write(v) }
    }
    fn write_io_u32(&self, port: u16, v: u32) {
        // SAFETY: an I/O port the ACPI tables name.
        unsafe { Port::new(port).write(v) }
    }

    fn read_pci_u8(&self, a: PciAddress, offset: u16) -> u8 {
        (pci_read32(a, offset) >> ((offset & 3) * 8)) as u8
    }
    fn read_pci_u16(&self, a: PciAddress, offset: u16) -> u16 {
        (pci_read32(a, offset) >> ((offset & 2) * 8)) as u16
    }
    fn read_pci_u32(&self, a: PciAddress, offset: u16) -> u32 {
        pci_read32(a, offset)
    }
    fn write_pci_u8(&self, a: PciAddress, offset: u16, v: u8) {
        let shift = (offset & 3) * 8;
        let old = pci_read32(a, offset) & !(0xff << shift);
        pci_write32(a, offset, old | (v as u32) << shift);
    }
    fn write_pci_u16(&self, a: PciAddress, offset: u16, v: u16) {
        let shift = (offset & 2) * 8;
        let old = pci_read32(a, offset) & !(0xffff << shift);
        pci_write32(a, offset, old | (v as u32) << shift);
    }
    fn write_pci_u32(&self, a: PciAddress, offset: u16, v: u32) {
        pci_write32(a, offset, v)
    }

    fn nanos_since_boot(&self) -> u64 {
        crate::time::uptime().as_nanos() as u64
    }
    fn stall(&self, us: u64) {
        crate::time::busy_wait(core::time::Duration::from_micros(us));
    }
    fn sleep(&self, ms: u64) {
        crate::time::busy_wait(core::time::Duration::from_millis(ms));
    }

    // AML is not executed (single-threaded use would make these trivial).
    fn create_mutex(&self) -> ::acpi::Handle {
        ::acpi::Handle(0)
    }
    fn acquire(&self, _mutex: ::acpi::Handle, _timeout: u16) -> Result<(), ::acpi::aml::AmlError> {
        Ok(())
    }
    fn release(&self, _mutex: ::acpi::Handle) {}
}

//! ACPI's access to the machine: the `acpi` crate's [`Handler`] (physical
//! memory through the physical-memory mapping, I/O ports, PCI
//! configuration space), the DSDT's bytes, the PM timer and the PM1
//! control registers. The tables are parsed with safe code in
//! [`crate::acpi`].

use crate::acpi::PowerOff;
use crate::drivers::pci;
use crate::mm::paging::phys_to_virt;
use ::acpi::{AcpiError, AcpiTables, Handler, PciAddress, PhysicalMapping};
use core::ptr::NonNull;
use x86_64::instructions::port::Port;
use x86_64::PhysAddr;

/// The tables behind `rsdp`, the RSDP address the bootloader reported
/// (`BootInfo::rsdp_addr`).
pub fn tables(rsdp: u64) -> Result<AcpiTables<KernelAcpi>, AcpiError> {
    // SAFETY: the bootloader found a valid RSDP at this address; the tables
    // are read through the physical-memory mapping (`KernelAcpi`).
    unsafe { AcpiTables::from_rsdp(KernelAcpi, rsdp as usize) }
}

/// The AML of the DSDT (after its header), if the tables have one.
pub fn dsdt_aml(tables: &AcpiTables<KernelAcpi>) -> Option<&'static [u8]> {
    let dsdt = tables.dsdt().ok()?;
    let header = core::mem::size_of::<::acpi::sdt::SdtHeader>();
    let len = (dsdt.length as usize).checked_sub(header)?;
    let start = phys_to_virt(PhysAddr::new((dsdt.phys_address + header) as u64));
    // SAFETY: the DSDT (its address and length from the validated tables)
    // lies in firmware-reserved RAM, which the physical-memory mapping
    // covers and which nothing writes.
    Some(unsafe { core::slice::from_raw_parts(start.as_ptr::<u8>(), len) })
}

/// The ACPI PM timer's count, at `port` (the FADT's PM timer block).
pub fn pm_timer_read(port: u16) -> u32 {
    // SAFETY: reading the PM timer register has no side effect.
    unsafe { Port::<u32>::new(port).read() }
}

/// Writes the S5 sleep type and SLP_EN to the PM1 control registers
/// (after switching to ACPI mode through SMI_CMD if needed).
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
}

/// The `acpi` crate's window onto the machine.
#[derive(Clone, Copy, Debug)]
pub struct KernelAcpi;

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

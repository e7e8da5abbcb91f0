//! ACPI tables (`acpi` crate): where the interrupt controllers are (MADT),
//! the PM timer and power-off registers (FADT), and the S5 sleep type
//! (`_S5_` in the DSDT, see [`klib::aml`]). The memory and register
//! accesses are in [`crate::arch::x86_64::acpi`]; this module only parses.
//!
//! Without usable ACPI tables the kernel falls back to the PC defaults
//! (local APIC from its MSR, one IOAPIC at 0xfec00000, PIT) and cannot
//! power off through ACPI.

use crate::arch::x86_64::acpi as hw;
use crate::arch::x86_64::ioapic::{IsaOverride, Trigger};
use crate::time::Reference;
use ::acpi::address::AddressSpace;
use ::acpi::platform::interrupt::{InterruptModel, Polarity, TriggerMode};
use ::acpi::platform::ProcessorState;
use ::acpi::sdt::fadt::Fadt;
use alloc::string::String;
use alloc::vec::Vec;
use klib::aml::SleepTypes;
use spin::Once;

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
    let tables = hw::tables(rsdp).map_err(|_| "bad RSDP/XSDT")?;
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
        let aml = hw::dsdt_aml(&tables)?;
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
    crate::arch::x86_64::acpi::enter_s5(p);
    crate::time::busy_wait(core::time::Duration::from_millis(500));
}

//! The CMOS real-time clock (ports 0x70/0x71): the wall-clock date and
//! time. The registers are read twice until two reads agree, outside an
//! update cycle; `klib::rtc` decodes them.

use klib::rtc::{CmosRegisters, DateTime};
use x86_64::instructions::port::Port;

const INDEX: u16 = 0x70;
const DATA: u16 = 0x71;
/// Keep NMIs enabled (bit 7 of the index clear).
fn read(reg: u8) -> u8 {
    // SAFETY: the CMOS index/data ports; reading a clock register has no
    // side effects. Interrupts are off around the index/data pair.
    x86_64::instructions::interrupts::without_interrupts(|| unsafe {
        Port::<u8>::new(INDEX).write(reg);
        Port::<u8>::new(DATA).read()
    })
}

fn updating() -> bool {
    read(0x0a) & 0x80 != 0
}

/// The century register of PC clocks (QEMU has it; where firmware has
/// none, a value outside 19..=21 makes the decoder assume the 2000s).
const CENTURY: u8 = 0x32;

fn registers() -> CmosRegisters {
    CmosRegisters {
        second: read(0x00),
        minute: read(0x02),
        hour: read(0x04),
        day: read(0x07),
        month: read(0x08),
        year: read(0x09),
        century: read(CENTURY),
        status_b: read(0x0b),
    }
}

/// The current date and time, or `None` if the clock holds no valid date.
pub fn now() -> Option<DateTime> {
    for _ in 0..100 {
        let mut spins = 0;
        while updating() && spins < 100_000 {
            spins += 1;
            core::hint::spin_loop();
        }
        let a = registers();
        let b = registers();
        if a == b {
            return a.decode();
        }
    }
    None
}

//! The legacy 8259 PICs: remapped away from the exception vectors and fully
//! masked. All interrupts come through the local APIC and IOAPIC; real UEFI
//! PCs may not even have working PICs.

use super::idt::vector;
use x86_64::instructions::port::Port;

const MASTER_CMD: u16 = 0x20;
const MASTER_DATA: u16 = 0x21;
const SLAVE_CMD: u16 = 0xa0;
const SLAVE_DATA: u16 = 0xa1;

pub fn remap_and_mask() {
    let write = |port: u16, v: u8| {
        // SAFETY: standard 8259 programming sequence on the PC's fixed
        // PIC ports; the PICs are masked at the end.
        unsafe { Port::<u8>::new(port).write(v) };
        // A write to port 0x80 gives old PICs time to settle.
        // SAFETY: port 0x80 is the POST diagnostic port, safe to write.
        unsafe { Port::<u8>::new(0x80).write(0) };
    };
    write(MASTER_CMD, 0x11); // ICW1: init, expect ICW4
    write(SLAVE_CMD, 0x11);
    write(MASTER_DATA, vector::PIC_BASE); // ICW2: vector offsets
    write(SLAVE_DATA, vector::PIC_BASE + 8);
    write(MASTER_DATA, 4); // ICW3: slave on IRQ2
    write(SLAVE_DATA, 2);
    write(MASTER_DATA, 0x01); // ICW4: 8086 mode
    write(SLAVE_DATA, 0x01);
    write(MASTER_DATA, 0xff); // mask everything
    write(SLAVE_DATA, 0xff);
}

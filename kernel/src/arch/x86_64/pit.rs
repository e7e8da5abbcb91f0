//! The 8254 PIT, used only as a known clock to calibrate the TSC and the
//! APIC timer when ACPI offers no PM timer: channel 2, gated through port
//! 0x61, counting down once; no interrupt needed.

use x86_64::instructions::port::Port;

pub const FREQUENCY_HZ: u64 = 1_193_182;

/// Busy-waits `ticks` PIT ticks (at most 65535, about 55 ms), calling
/// nothing else. Returns `false` if the PIT never finished (no PIT).
pub fn wait_ticks(ticks: u16) -> bool {
    let mut gate = Port::<u8>::new(0x61);
    let mut command = Port::<u8>::new(0x43);
    let mut channel2 = Port::<u8>::new(0x42);
    // SAFETY: standard PIT/port-0x61 programming; channel 2 only drives
    // the (disabled) speaker.
    unsafe {
        // Gate low, speaker off.
        let g = gate.read() & !0x03;
        gate.write(g);
        // Channel 2, lobyte/hibyte, mode 0 (terminal count), binary.
        command.write(0b1011_0000);
        channel2.write(ticks as u8);
        channel2.write((ticks >> 8) as u8);
        // Gate high starts counting.
        gate.write(g | 0x01);
        // OUT2 (bit 5) goes high at terminal count. Bound the wait so a
        // machine without a PIT does not hang here.
        for _ in 0..100_000_000u64 {
            if gate.read() & 0x20 != 0 {
                gate.write(g);
                return true;
            }
        }
        gate.write(g);
    }
    false
}

//! The PS/2 keyboard behind the i8042 controller: IRQ 1 through the
//! IOAPIC, scancode set 1 (the controller translates), decoded in the
//! chosen layout by `klib::keyboard` into the console's key queue.
//!
//! Machines without the controller (many UEFI PCs) read 0xff from its
//! status port; the driver then stays off.

use crate::arch::x86_64::{apic, idt, ioapic};
use crate::console::input;
use klib::keyboard::{KeyDecoder, UnknownLayout};
use spin::Mutex;
use x86_64::instructions::port::Port;

const DATA: u16 = 0x60;
const STATUS: u16 = 0x64;
const COMMAND: u16 = 0x64;
const STATUS_OUTPUT_FULL: u8 = 1 << 0;
const STATUS_INPUT_FULL: u8 = 1 << 1;
const STATUS_FROM_MOUSE: u8 = 1 << 5;
const CMD_READ_CONFIG: u8 = 0x20;
const CMD_WRITE_CONFIG: u8 = 0x60;
const CMD_ENABLE_KEYBOARD: u8 = 0xae;
const CONFIG_KEYBOARD_IRQ: u8 = 1 << 0;
const CONFIG_KEYBOARD_CLOCK_OFF: u8 = 1 << 4;
const CONFIG_TRANSLATE: u8 = 1 << 6;
/// The keyboard's ISA IRQ line.
pub const IRQ: u8 = 1;

static DECODER: Mutex<KeyDecoder> = Mutex::new(KeyDecoder::new());

fn status() -> u8 {
    // SAFETY: reading the i8042 status register has no side effects.
    unsafe { Port::<u8>::new(STATUS).read() }
}

/// Waits (bounded) until the controller can take a byte.
fn wait_input_empty() -> bool {
    (0..100_000).any(|_| status() & STATUS_INPUT_FULL == 0)
}

/// Waits (bounded) for a byte from the controller.
fn wait_output_full() -> bool {
    (0..100_000).any(|_| status() & STATUS_OUTPUT_FULL != 0)
}

fn command(cmd: u8) -> Result<(), &'static str> {
    if !wait_input_empty() {
        return Err("controller does not take commands");
    }
    // SAFETY: an i8042 controller command; the driver is its only user.
    unsafe { Port::<u8>::new(COMMAND).write(cmd) };
    Ok(())
}

fn read_data() -> u8 {
    // SAFETY: reading the data port takes the byte the controller holds.
    unsafe { Port::<u8>::new(DATA).read() }
}

/// Turns the keyboard port on with translation and its interrupt, and
/// routes IRQ 1. `Err` says why there is no PS/2 keyboard input.
pub fn init() -> Result<(), &'static str> {
    if status() == 0xff {
        return Err("no i8042 controller");
    }
    // Drop whatever the firmware left in the output buffer.
    for _ in 0..32 {
        if status() & STATUS_OUTPUT_FULL == 0 {
            break;
        }
        read_data();
    }
    command(CMD_READ_CONFIG)?;
    if !wait_output_full() {
        return Err("controller does not answer");
    }
    let config =
        (read_data() | CONFIG_KEYBOARD_IRQ | CONFIG_TRANSLATE) & !CONFIG_KEYBOARD_CLOCK_OFF;
    command(CMD_WRITE_CONFIG)?;
    if !wait_input_empty() {
        return Err("controller does not take its configuration");
    }
    // SAFETY: the configuration byte that follows CMD_WRITE_CONFIG.
    unsafe { Port::<u8>::new(DATA).write(config) };
    command(CMD_ENABLE_KEYBOARD)?;
    let vector = idt::register_handler(on_interrupt).ok_or("no free interrupt vector")?;
    ioapic::route_isa(IRQ, vector, apic::id())?;
    Ok(())
}

/// IRQ 1: decode every byte the controller holds.
fn on_interrupt() {
    let mut decoder = DECODER.lock();
    for _ in 0..16 {
        let s = status();
        if s & STATUS_OUTPUT_FULL == 0 {
            break;
        }
        let byte = read_data();
        if s & STATUS_FROM_MOUSE != 0 {
            continue;
        }
        if let Some(key) = decoder.scancode(byte) {
            input::push_key(key.as_slice());
        }
    }
}

/// The keyboard layout of PS/2 (and USB) keyboards.
pub fn layout() -> &'static str {
    x86_64::instructions::interrupts::without_interrupts(|| DECODER.lock().layout())
}

/// Switches the keyboard layout (a name from `klib::keyboard::LAYOUTS`).
pub fn set_layout(name: &str) -> Result<(), UnknownLayout> {
    x86_64::instructions::interrupts::without_interrupts(|| DECODER.lock().set_layout(name))
}

//! `/keymap [NAME]`: the keyboard layout of the PS/2 and USB keyboards;
//! `/usb`: the USB devices found.

use crate::drivers::ps2_keyboard;
use alloc::string::String;
use klib::keyboard::LAYOUTS;
use klib::outln;
use klib::registry::{Invocation, Output};

/// Without a name: the current layout and the choices; with one: switch.
pub fn cmd_keymap(inv: &Invocation, out: &mut Output) -> Result<(), String> {
    match inv.str("layout") {
        None => {
            outln!(out, "keyboard layout: {}", ps2_keyboard::layout());
            for (name, what) in LAYOUTS {
                outln!(out, "  {name:8} {what}");
            }
            Ok(())
        }
        Some(name) => match ps2_keyboard::set_layout(name) {
            Ok(()) => {
                crate::drivers::xhci::set_layout(name);
                outln!(out, "keyboard layout: {name}");
                Ok(())
            }
            Err(_) => Err(alloc::format!("unknown layout `{name}` (see /keymap)")),
        },
    }
}

/// Lists the xHCI controllers and the devices on their root ports.
pub fn cmd_usb(_: &Invocation, out: &mut Output) -> Result<(), String> {
    let lines = crate::drivers::xhci::describe();
    if lines.is_empty() {
        outln!(out, "no xHCI USB controller");
    }
    for l in lines {
        outln!(out, "{l}");
    }
    Ok(())
}

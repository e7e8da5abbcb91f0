//! `/keymap [NAME]`: the keyboard layout of the PS/2 and USB keyboards;
//! `/usb`: the USB devices found.

use crate::drivers::ps2_keyboard;
use crate::println;
use klib::keyboard::LAYOUTS;

/// Without a name: the current layout and the choices; with one: switch.
pub fn cmd_keymap(arg: Option<&str>) {
    match arg {
        None => {
            println!("keyboard layout: {}", ps2_keyboard::layout());
            for (name, what) in LAYOUTS {
                println!("  {name:8} {what}");
            }
        }
        Some(name) => match ps2_keyboard::set_layout(name) {
            Ok(()) => {
                crate::drivers::xhci::set_layout(name);
                println!("keyboard layout: {name}")
            }
            Err(_) => println!("unknown layout `{name}` (see /keymap)"),
        },
    }
}

/// Lists the xHCI controllers and the devices on their root ports.
pub fn cmd_usb(_: Option<&str>) {
    let lines = crate::drivers::xhci::describe();
    if lines.is_empty() {
        println!("no xHCI USB controller");
    }
    for l in lines {
        println!("{l}");
    }
}

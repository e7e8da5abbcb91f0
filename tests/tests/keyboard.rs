//! Typing on a PS/2 keyboard (QMP `send-key`; the machine has no USB
//! keyboard, so QEMU routes keys to the i8042), and on a USB keyboard
//! (`usb-kbd` on `qemu-xhci`, which then gets the keys): commands run and
//! are answered on the serial line, the editing keys and Ctrl-C work, and
//! `/keymap` switches the layout.

mod common;

use common::{config, line_with};
use qemu_tests::images::scratch_dir;
use qemu_tests::machine::COMMAND_TIMEOUT;
use qemu_tests::qmp::Qmp;
use qemu_tests::{Firmware, Machine};
use std::time::Duration;

#[derive(Clone, Copy, PartialEq)]
enum Keyboard {
    Ps2,
    Usb,
}

fn check_typing(firmware: Firmware, keyboard: Keyboard, name: &str) {
    let dir = scratch_dir(name);
    let socket = dir.join("qmp.sock");
    let mut cfg = config(firmware, 512).qmp(&socket);
    if keyboard == Keyboard::Usb {
        cfg = cfg
            .arg("-device")
            .arg("qemu-xhci,id=xhci")
            .arg("-device")
            .arg("usb-kbd,bus=xhci.0");
    }
    let mut m = Machine::boot_to_prompt(name, &cfg);
    assert!(
        !m.text().contains("no PS/2 keyboard"),
        "the PS/2 keyboard was not found:\n{}",
        m.text()
    );
    if keyboard == Keyboard::Usb {
        let usb = m.command("/usb");
        assert!(
            usb.contains("HID boot keyboard") && usb.contains("typing into the console"),
            "/usb does not list the keyboard:\n{usb}"
        );
    }
    let mut kbd = Qmp::connect(&socket, Duration::from_secs(10)).unwrap_or_else(|e| m.fail(&e));
    let mut keys = |m: &mut Machine, keys: &[&str]| {
        if let Err(e) = kbd.send_key(keys) {
            m.fail(&e);
        }
        std::thread::sleep(Duration::from_millis(60));
    };

    // "/hep", Left, "l", Enter: the editor sees "/help".
    for k in ["slash", "h", "e", "p", "left", "l", "ret"] {
        keys(&mut m, &[k]);
    }
    let help = m.answer(COMMAND_TIMEOUT);
    assert!(
        help.contains("  /keymap"),
        "/help typed on the keyboard:\n{help}"
    );
    assert!(
        help.contains("  /mem"),
        "/help typed on the keyboard:\n{help}"
    );

    // Ctrl-C abandons the line.
    for k in ["x", "y"] {
        keys(&mut m, &[k]);
    }
    keys(&mut m, &["ctrl", "c"]);
    m.wait_for("xy^C", COMMAND_TIMEOUT);
    m.wait_for(qemu_tests::PROMPT, COMMAND_TIMEOUT);

    // A German layout swaps Y and Z; shifted keys work.
    let out = m.command("/keymap de");
    assert!(out.contains("keyboard layout: de"), "{out}");
    for k in [&["y"][..], &["z"], &["shift", "a"]] {
        keys(&mut m, k);
    }
    m.wait_for("zyA", COMMAND_TIMEOUT);
    keys(&mut m, &["ctrl", "c"]);
    m.wait_for(qemu_tests::PROMPT, COMMAND_TIMEOUT);
    let out = m.command("/keymap");
    assert!(line_with(&out, "keyboard layout:").ends_with("de"), "{out}");
    let out = m.command("/keymap klingon");
    assert!(out.contains("usage: /keymap [us|uk|de"), "{out}");
}

#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn ps2_keyboard_types_commands_bios() {
    check_typing(Firmware::Bios, Keyboard::Ps2, "keyboard-ps2-bios");
}

#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn ps2_keyboard_types_commands_uefi() {
    check_typing(Firmware::Uefi, Keyboard::Ps2, "keyboard-ps2-uefi");
}

#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn usb_keyboard_types_commands_bios() {
    check_typing(Firmware::Bios, Keyboard::Usb, "keyboard-usb-bios");
}

#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn usb_keyboard_types_commands_uefi() {
    check_typing(Firmware::Uefi, Keyboard::Usb, "keyboard-usb-uefi");
}

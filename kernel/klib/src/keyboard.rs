//! Keyboards to console bytes: key events (from PS/2 scancodes, set 1 as
//! the i8042 translates them, or from USB HID usages) are decoded with the
//! `pc-keyboard` crate in the chosen layout and turned into the bytes a
//! terminal would send, so the line editor reads every keyboard the same
//! way as the serial line: Enter is CR, Backspace DEL, arrows and
//! Home/End/Delete their ANSI sequences, Ctrl+letter its control code
//! (Ctrl-C is 0x03).

use pc_keyboard::layouts::{
    AnyLayout, Azerty, Colemak, De105Key, Dvorak104Key, FiSe105Key, No105Key, Uk105Key, Us104Key,
};
use pc_keyboard::{
    DecodedKey, EventDecoder, HandleControl, KeyCode, KeyEvent, KeyState, ScancodeSet, ScancodeSet1,
};

/// The layouts `/keymap` offers: name and description.
pub const LAYOUTS: &[(&str, &str)] = &[
    ("us", "US English (104 keys)"),
    ("uk", "UK English (105 keys)"),
    ("de", "German (105 keys)"),
    ("fr", "French AZERTY"),
    ("no", "Norwegian (105 keys)"),
    ("fi-se", "Finnish/Swedish (105 keys)"),
    ("dvorak", "US Dvorak"),
    ("colemak", "US Colemak"),
];

/// The names in [`LAYOUTS`] (for the command's argument check).
pub const LAYOUT_NAMES: &[&str] = &["us", "uk", "de", "fr", "no", "fi-se", "dvorak", "colemak"];

fn layout(name: &str) -> Option<AnyLayout> {
    Some(match name {
        "us" => AnyLayout::Us104Key(Us104Key),
        "uk" => AnyLayout::Uk105Key(Uk105Key),
        "de" => AnyLayout::De105Key(De105Key),
        "fr" => AnyLayout::Azerty(Azerty),
        "no" => AnyLayout::No105Key(No105Key),
        "fi-se" => AnyLayout::FiSe105Key(FiSe105Key),
        "dvorak" => AnyLayout::Dvorak104Key(Dvorak104Key),
        "colemak" => AnyLayout::Colemak(Colemak),
        _ => return None,
    })
}

/// The bytes one key press produces (at most a 4-byte UTF-8 character or
/// a 4-byte escape sequence).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyBytes {
    bytes: [u8; 4],
    len: u8,
}

impl KeyBytes {
    fn from_slice(s: &[u8]) -> KeyBytes {
        let mut k = KeyBytes::default();
        k.bytes[..s.len()].copy_from_slice(s);
        k.len = s.len() as u8;
        k
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

/// One keyboard's decoding state (modifiers, a scancode sequence in
/// progress) and its layout.
pub struct KeyDecoder {
    scancodes: ScancodeSet1,
    events: EventDecoder<AnyLayout>,
    layout: &'static str,
}

impl Default for KeyDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyDecoder {
    /// US layout.
    pub const fn new() -> KeyDecoder {
        KeyDecoder {
            scancodes: ScancodeSet1::new(),
            events: EventDecoder::new(
                AnyLayout::Us104Key(Us104Key),
                HandleControl::MapLettersToUnicode,
            ),
            layout: "us",
        }
    }

    /// The layout's name (see [`LAYOUTS`]).
    pub fn layout(&self) -> &'static str {
        self.layout
    }

    /// Switches to the layout `name`; an unknown name changes nothing.
    pub fn set_layout(&mut self, name: &str) -> Result<(), UnknownLayout> {
        let (known, _) = LAYOUTS
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or(UnknownLayout)?;
        self.events
            .change_layout(layout(known).expect("every LAYOUTS entry has a layout"));
        self.layout = known;
        Ok(())
    }

    /// Feeds one byte from the i8042 data port (scancode set 1).
    pub fn scancode(&mut self, byte: u8) -> Option<KeyBytes> {
        match self.scancodes.advance_state(byte) {
            Ok(Some(event)) => self.key_event(event),
            // Unknown codes and bad sequences are dropped; the next byte
            // starts afresh.
            _ => None,
        }
    }

    /// Feeds a key going down or up (e.g. from a USB HID report).
    pub fn key_event(&mut self, event: KeyEvent) -> Option<KeyBytes> {
        let seq = |s: &[u8]| Some(KeyBytes::from_slice(s));
        match self.events.process_keyevent(event)? {
            DecodedKey::Unicode('\n') => seq(b"\r"),
            DecodedKey::Unicode('\x08') => seq(b"\x7f"),
            // Only the Delete key decodes to DEL.
            DecodedKey::Unicode('\x7f') => seq(b"\x1b[3~"),
            DecodedKey::Unicode(c) => {
                let mut buf = [0u8; 4];
                seq(c.encode_utf8(&mut buf).as_bytes())
            }
            DecodedKey::RawKey(code) => match code {
                KeyCode::ArrowUp => seq(b"\x1b[A"),
                KeyCode::ArrowDown => seq(b"\x1b[B"),
                KeyCode::ArrowRight => seq(b"\x1b[C"),
                KeyCode::ArrowLeft => seq(b"\x1b[D"),
                KeyCode::Home => seq(b"\x1b[H"),
                KeyCode::End => seq(b"\x1b[F"),
                KeyCode::Delete => seq(b"\x1b[3~"),
                KeyCode::NumpadEnter => seq(b"\r"),
                _ => None,
            },
        }
    }
}

/// USB HID boot-keyboard reports: the key events between the previous
/// 8-byte report and this one (modifier bits first, then released keys,
/// then pressed keys). Error reports (usage 1, "roll over") change nothing.
pub fn hid_report_events(prev: &[u8; 8], cur: &[u8; 8], mut out: impl FnMut(KeyEvent)) {
    if cur[2..].contains(&1) {
        return;
    }
    const MODIFIERS: [KeyCode; 8] = [
        KeyCode::LControl,
        KeyCode::LShift,
        KeyCode::LAlt,
        KeyCode::LWin,
        KeyCode::RControl,
        KeyCode::RShift,
        KeyCode::RAltGr,
        KeyCode::RWin,
    ];
    for (bit, &code) in MODIFIERS.iter().enumerate() {
        let (was, is) = (prev[0] >> bit & 1 != 0, cur[0] >> bit & 1 != 0);
        if was != is {
            out(KeyEvent::new(
                code,
                if is { KeyState::Down } else { KeyState::Up },
            ));
        }
    }
    for &u in &prev[2..] {
        if u > 3 && !cur[2..].contains(&u) {
            if let Some(code) = hid_usage(u) {
                out(KeyEvent::new(code, KeyState::Up));
            }
        }
    }
    for &u in &cur[2..] {
        if u > 3 && !prev[2..].contains(&u) {
            if let Some(code) = hid_usage(u) {
                out(KeyEvent::new(code, KeyState::Down));
            }
        }
    }
}

/// The key of a HID keyboard usage (page 7).
pub fn hid_usage(u: u8) -> Option<KeyCode> {
    use KeyCode::*;
    const LETTERS: [KeyCode; 26] = [
        A, B, C, D, E, F, G, H, I, J, K, L, M, N, O, P, Q, R, S, T, U, V, W, X, Y, Z,
    ];
    const DIGITS: [KeyCode; 10] = [Key1, Key2, Key3, Key4, Key5, Key6, Key7, Key8, Key9, Key0];
    const FKEYS: [KeyCode; 12] = [F1, F2, F3, F4, F5, F6, F7, F8, F9, F10, F11, F12];
    Some(match u {
        0x04..=0x1d => LETTERS[(u - 0x04) as usize],
        0x1e..=0x27 => DIGITS[(u - 0x1e) as usize],
        0x28 => Return,
        0x29 => Escape,
        0x2a => Backspace,
        0x2b => Tab,
        0x2c => Spacebar,
        0x2d => OemMinus,
        0x2e => OemPlus,
        0x2f => Oem4,
        0x30 => Oem6,
        0x31 => Oem7,
        0x32 => Oem7,
        0x33 => Oem1,
        0x34 => Oem3,
        0x35 => Oem8,
        0x36 => OemComma,
        0x37 => OemPeriod,
        0x38 => Oem2,
        0x39 => CapsLock,
        0x3a..=0x45 => FKEYS[(u - 0x3a) as usize],
        0x49 => Insert,
        0x4a => Home,
        0x4b => PageUp,
        0x4c => Delete,
        0x4d => End,
        0x4e => PageDown,
        0x4f => ArrowRight,
        0x50 => ArrowLeft,
        0x51 => ArrowDown,
        0x52 => ArrowUp,
        0x58 => NumpadEnter,
        0x64 => Oem5,
        _ => return None,
    })
}

/// `set_layout` with a name not in [`LAYOUTS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownLayout;

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// Presses (make code) and releases (break code) each set-1 key.
    fn type_keys(k: &mut KeyDecoder, codes: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for code in codes {
            for &b in *code {
                if let Some(bytes) = k.scancode(b) {
                    out.extend_from_slice(bytes.as_slice());
                }
            }
        }
        out
    }

    const SLASH: &[u8] = &[0x35, 0xb5];
    const H: &[u8] = &[0x23, 0xa3];
    const ENTER: &[u8] = &[0x1c, 0x9c];
    const SHIFT_DOWN: &[u8] = &[0x2a];
    const SHIFT_UP: &[u8] = &[0xaa];
    const CTRL_DOWN: &[u8] = &[0x1d];
    const CTRL_UP: &[u8] = &[0x9d];
    const C: &[u8] = &[0x2e, 0xae];
    const Y: &[u8] = &[0x15, 0x95];

    #[test]
    fn typing_a_command() {
        let mut k = KeyDecoder::new();
        assert_eq!(type_keys(&mut k, &[SLASH, H, ENTER]), b"/h\r");
        assert_eq!(type_keys(&mut k, &[SHIFT_DOWN, H, SHIFT_UP, H]), b"Hh");
    }

    #[test]
    fn control_keys_and_editing_keys() {
        let mut k = KeyDecoder::new();
        assert_eq!(type_keys(&mut k, &[CTRL_DOWN, C, CTRL_UP]), b"\x03");
        // Backspace, then extended keys: up, left, home, end, delete.
        let keys: &[&[u8]] = &[
            &[0x0e, 0x8e],
            &[0xe0, 0x48, 0xe0, 0xc8],
            &[0xe0, 0x4b, 0xe0, 0xcb],
            &[0xe0, 0x47, 0xe0, 0xc7],
            &[0xe0, 0x4f, 0xe0, 0xcf],
            &[0xe0, 0x53, 0xe0, 0xd3],
        ];
        assert_eq!(
            type_keys(&mut k, keys),
            b"\x7f\x1b[A\x1b[D\x1b[H\x1b[F\x1b[3~"
        );
    }

    #[test]
    fn layouts_switch_and_unknown_ones_change_nothing() {
        let mut k = KeyDecoder::new();
        assert_eq!(type_keys(&mut k, &[Y]), b"y");
        k.set_layout("de").unwrap();
        assert_eq!(k.layout(), "de");
        assert_eq!(type_keys(&mut k, &[Y]), b"z");
        assert_eq!(k.set_layout("klingon"), Err(UnknownLayout));
        assert_eq!(k.layout(), "de");
        for (name, _) in LAYOUTS {
            k.set_layout(name).unwrap();
        }
        let names: Vec<&str> = LAYOUTS.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, LAYOUT_NAMES);
    }

    #[test]
    fn hid_reports_type_keys() {
        let mut k = KeyDecoder::new();
        let mut out = Vec::new();
        let mut prev = [0u8; 8];
        let reports: [[u8; 8]; 8] = [
            [0, 0, 0x38, 0, 0, 0, 0, 0],    // '/'
            [0, 0, 0, 0, 0, 0, 0, 0],       //
            [0x02, 0, 0x0b, 0, 0, 0, 0, 0], // Shift+h
            [0, 0, 0x0b, 0, 0, 0, 0, 0],    // Shift up, h held
            [0, 0, 0x0b, 0x0c, 0, 0, 0, 0], // i while h held
            [0, 0, 1, 1, 1, 1, 1, 1],       // roll-over error: ignored
            [0x01, 0, 0x06, 0, 0, 0, 0, 0], // Ctrl+c
            [0, 0, 0x52, 0x28, 0, 0, 0, 0], // Up, Enter
        ];
        for r in &reports {
            hid_report_events(&prev, r, |ev| {
                if let Some(b) = k.key_event(ev) {
                    out.extend_from_slice(b.as_slice());
                }
            });
            if !r[2..].contains(&1) {
                prev = *r;
            }
        }
        assert_eq!(out, b"/Hi\x03\x1b[A\r");
    }

    #[test]
    fn garbage_scancodes_are_dropped() {
        let mut k = KeyDecoder::new();
        let noise: &[&[u8]] = &[&[0xff, 0x00, 0xe0, 0xe0, 0xe1, 0xfa, 0xaa]];
        let _ = type_keys(&mut k, noise);
        assert_eq!(type_keys(&mut k, &[H]), b"h");
    }
}

//! QEMU's machine protocol (QMP) on a Unix socket: screendumps and key
//! presses. Add the socket to a machine with [`QemuConfig::qmp`], connect
//! after QEMU started with [`Qmp::connect`].
//!
//! [`QemuConfig::qmp`]: crate::QemuConfig::qmp

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

pub struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Qmp {
    /// Connects (retrying while QEMU creates the socket) and negotiates
    /// capabilities.
    pub fn connect(socket: &Path, timeout: Duration) -> Result<Qmp, String> {
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match UnixStream::connect(socket) {
                Ok(s) => break s,
                Err(e) if Instant::now() > deadline => {
                    return Err(format!("QMP socket {}: {e}", socket.display()))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .map_err(|e| e.to_string())?;
        let writer = stream.try_clone().map_err(|e| e.to_string())?;
        let mut q = Qmp {
            reader: BufReader::new(stream),
            writer,
        };
        let mut greeting = String::new();
        q.reader
            .read_line(&mut greeting)
            .map_err(|e| format!("QMP greeting: {e}"))?;
        q.execute("qmp_capabilities", "{}")?;
        Ok(q)
    }

    /// Runs `command` with `arguments` (a JSON object); returns the reply
    /// line, or the error QEMU gave.
    pub fn execute(&mut self, command: &str, arguments: &str) -> Result<String, String> {
        let msg = format!("{{\"execute\":\"{command}\",\"arguments\":{arguments}}}\n");
        self.writer
            .write_all(msg.as_bytes())
            .map_err(|e| format!("QMP write: {e}"))?;
        loop {
            let mut line = String::new();
            let n = self
                .reader
                .read_line(&mut line)
                .map_err(|e| format!("QMP read: {e}"))?;
            if n == 0 {
                return Err("QMP connection closed".into());
            }
            // Events ({"event": ...}) may come in between.
            if line.starts_with("{\"return\"") {
                return Ok(line);
            }
            if line.starts_with("{\"error\"") {
                return Err(format!("QMP {command}: {}", line.trim()));
            }
        }
    }

    /// Saves the screen as a PPM file.
    pub fn screendump(&mut self, file: &Path) -> Result<(), String> {
        let file = json_string(&file.display().to_string());
        self.execute("screendump", &format!("{{\"filename\":{file}}}"))
            .map(|_| ())
    }

    /// Presses and releases the keys `keys` together (QEMU key names, e.g.
    /// `["ctrl", "c"]`).
    pub fn send_key(&mut self, keys: &[&str]) -> Result<(), String> {
        let list: Vec<String> = keys
            .iter()
            .map(|k| format!("{{\"type\":\"qcode\",\"data\":{}}}", json_string(k)))
            .collect();
        self.execute(
            "send-key",
            &format!("{{\"keys\":[{}],\"hold-time\":30}}", list.join(",")),
        )
        .map(|_| ())
    }

    /// Types `text` (ASCII letters, digits, space, `/`, `-`, `.` and
    /// newline as Enter) one key at a time.
    pub fn type_text(&mut self, text: &str) -> Result<(), String> {
        for c in text.chars() {
            let keys: Vec<String> = match c {
                'a'..='z' | '0'..='9' => vec![c.to_string()],
                'A'..='Z' => vec!["shift".into(), c.to_ascii_lowercase().to_string()],
                ' ' => vec!["spc".into()],
                '/' => vec!["slash".into()],
                '-' => vec!["minus".into()],
                '.' => vec!["dot".into()],
                '\n' => vec!["ret".into()],
                other => return Err(format!("no key for {other:?}")),
            };
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            self.send_key(&keys)?;
            // Let the guest take each key before the next one.
            std::thread::sleep(Duration::from_millis(60));
        }
        Ok(())
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A binary PPM (P6, 8-bit) image as QEMU's `screendump` writes it.
pub struct Ppm {
    pub width: usize,
    pub height: usize,
    /// RGB bytes, `width * 3` per line.
    pub pixels: Vec<u8>,
}

impl Ppm {
    pub fn read(file: &Path) -> Result<Ppm, String> {
        let data = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
        // Header: "P6" WS width WS height WS maxval, one whitespace byte.
        let mut fields = Vec::new();
        let mut i = 0;
        while fields.len() < 4 {
            while i < data.len() && data[i].is_ascii_whitespace() {
                i += 1;
            }
            let start = i;
            while i < data.len() && !data[i].is_ascii_whitespace() {
                i += 1;
            }
            if start == i {
                return Err("truncated PPM header".into());
            }
            fields.push(String::from_utf8_lossy(&data[start..i]).into_owned());
        }
        let num = |s: &str| {
            s.parse::<usize>()
                .map_err(|_| format!("bad PPM field {s:?}"))
        };
        if fields[0] != "P6" || num(&fields[3])? != 255 {
            return Err(format!("not an 8-bit P6 PPM: {fields:?}"));
        }
        let (width, height) = (num(&fields[1])?, num(&fields[2])?);
        let pixels = data[i + 1..].to_vec();
        if pixels.len() != width * height * 3 {
            return Err(format!(
                "PPM {width}x{height} has {} pixel bytes",
                pixels.len()
            ));
        }
        Ok(Ppm {
            width,
            height,
            pixels,
        })
    }
}

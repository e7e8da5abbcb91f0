//! A machine under test: QEMU with the serial console on pipes.
//!
//! Every wait has a deadline. Any failure — a deadline passed, QEMU exited
//! early, the machine rebooted — panics with the end of the serial log;
//! the whole log is kept in `target/qemu-tests/NAME.log`.

use crate::ansi;
use crate::images::workspace_root;
use crate::qemu::{check_installed, QemuConfig};
use crate::PROMPT;
use klib::qemu_exit::ExitCode;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Deadline for booting to the first prompt (UEFI under a loaded TCG host
/// can take a while).
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(120);
/// Deadline for an ordinary command's answer.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Text of the boot banner: seen twice means the machine rebooted.
const BANNER: &str = "llm-kernel ";

pub struct Machine {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    /// How far (in the stripped text) the waits have consumed.
    cursor: usize,
    exit_code: Option<i32>,
    started: Instant,
}

fn pump(mut from: impl Read + Send + 'static, into: Arc<Mutex<Vec<u8>>>) {
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            into.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
}

impl Machine {
    /// Starts QEMU. `name` names the log file.
    pub fn boot(name: &str, config: &QemuConfig) -> Machine {
        if let Err(e) = check_installed(config.firmware) {
            panic!("{e}");
        }
        let mut cmd = config.command();
        cmd.args(["-serial", "stdio"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("could not start QEMU ({cmd:?}): {e}"));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        pump(child.stdout.take().unwrap(), stdout.clone());
        pump(child.stderr.take().unwrap(), stderr.clone());
        Machine {
            name: name.into(),
            stdin: child.stdin.take(),
            child,
            stdout,
            stderr,
            cursor: 0,
            exit_code: None,
            started: Instant::now(),
        }
    }

    /// Boots and waits for the first prompt.
    pub fn boot_to_prompt(name: &str, config: &QemuConfig) -> Machine {
        let mut m = Machine::boot(name, config);
        m.wait_for(PROMPT, BOOT_TIMEOUT);
        m
    }

    /// Everything the serial port printed so far, escape sequences removed.
    pub fn text(&self) -> String {
        let raw = self.stdout.lock().unwrap();
        // Leave out a UTF-8 sequence that is still arriving.
        let complete = match std::str::from_utf8(&raw) {
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            _ => raw.len(),
        };
        ansi::strip(&String::from_utf8_lossy(&raw[..complete]))
    }

    /// Bytes of raw serial output so far (escape sequences included).
    pub fn raw_len(&self) -> usize {
        self.stdout.lock().unwrap().len()
    }

    /// Raw serial output from byte `from` on (escape sequences included).
    pub fn raw_since(&self, from: usize) -> String {
        String::from_utf8_lossy(&self.stdout.lock().unwrap()[from..]).into_owned()
    }

    /// Time since QEMU was started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Waits until `needle` appears after what earlier waits consumed;
    /// returns the text up to and including it.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.text();
            if text.matches(BANNER).count() > 1 {
                self.fail("the machine rebooted (a triple fault?)");
            }
            if let Some(i) = text[self.cursor..].find(needle) {
                let end = self.cursor + i + needle.len();
                let found = text[self.cursor..end].to_string();
                self.cursor = end;
                return found;
            }
            if let Some(status) = self.poll_exit() {
                // Let the output pumps catch up before giving up.
                thread::sleep(Duration::from_millis(200));
                if self.text()[self.cursor..].contains(needle) {
                    continue;
                }
                self.fail(&format!(
                    "QEMU exited with status {status} while waiting for {needle:?}"
                ));
            }
            if Instant::now() > deadline {
                self.fail(&format!("no {needle:?} within {timeout:?}"));
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends raw bytes to the serial port.
    pub fn send(&mut self, bytes: &[u8]) {
        let ok = match self.stdin.as_mut() {
            Some(s) => s.write_all(bytes).and_then(|_| s.flush()).is_ok(),
            None => false,
        };
        if !ok {
            self.fail("could not write to the serial port (QEMU gone?)");
        }
    }

    /// Types `line` and Enter, waits for the next prompt and returns what
    /// the kernel printed in between (the echoed line left out).
    pub fn command(&mut self, line: &str) -> String {
        self.command_with_timeout(line, COMMAND_TIMEOUT)
    }

    pub fn command_with_timeout(&mut self, line: &str, timeout: Duration) -> String {
        self.send(line.as_bytes());
        self.send(b"\r");
        self.answer(timeout)
    }

    /// After input that ends a line: the output up to the next prompt,
    /// without the echoed line.
    pub fn answer(&mut self, timeout: Duration) -> String {
        let out = self.wait_for(PROMPT, timeout);
        let out = out.strip_suffix(PROMPT).unwrap_or(&out);
        match out.split_once('\n') {
            Some((_echo, rest)) => rest.to_string(),
            None => String::new(),
        }
    }

    /// The exit status, if QEMU has exited.
    pub fn poll_exit(&mut self) -> Option<i32> {
        if self.exit_code.is_none() {
            if let Ok(Some(s)) = self.child.try_wait() {
                self.exit_code = Some(s.code().unwrap_or(-1));
            }
        }
        self.exit_code
    }

    /// Kills QEMU at once (SIGKILL: a power cut for the guest) and waits
    /// for it to be gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.exit_code = Some(-9);
    }

    /// Waits for QEMU to exit and returns its status.
    pub fn wait_exit(&mut self, timeout: Duration) -> i32 {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(code) = self.poll_exit() {
                thread::sleep(Duration::from_millis(100));
                return code;
            }
            if Instant::now() > deadline {
                self.fail(&format!("QEMU still running after {timeout:?}"));
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for QEMU to exit and checks the kernel's verdict.
    pub fn expect_exit(&mut self, expected: ExitCode, timeout: Duration) {
        let code = self.wait_exit(timeout);
        if ExitCode::from_qemu_status(code) != Some(expected) {
            self.fail(&format!(
                "QEMU exited with status {code}, expected {expected:?}"
            ));
        }
    }

    /// Panics with `msg`, the end of the serial log and QEMU's stderr.
    pub fn fail(&mut self, msg: &str) -> ! {
        let path = self.save_log();
        let text = self.text();
        let tail_start = text.len().saturating_sub(4000);
        let tail_start = (tail_start..text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(text.len());
        let stderr = String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned();
        let _ = self.child.kill();
        panic!(
            "[{}] {msg} (after {:.1} s)\n--- serial log (end; whole log in {}) ---\n{}\n--- QEMU stderr ---\n{}",
            self.name,
            self.elapsed().as_secs_f64(),
            path.display(),
            &text[tail_start..],
            stderr.trim()
        );
    }

    fn save_log(&self) -> PathBuf {
        let dir = workspace_root().join("target").join("qemu-tests");
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(format!("{}.log", self.name));
        let _ = std::fs::write(&path, self.stdout.lock().unwrap().as_slice());
        path
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        self.save_log();
        if self.poll_exit().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

//! QEMU command lines, and the choice of accelerator.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// OVMF (UEFI firmware): `OVMF_FD` overrides the Debian path.
pub fn ovmf_path() -> PathBuf {
    std::env::var_os("OVMF_FD")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/ovmf/OVMF.fd"))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Firmware {
    /// SeaBIOS, booting the MBR of `disk.img`.
    Bios,
    /// OVMF, booting `\EFI\BOOT\BOOTX64.EFI` of `disk.img`.
    Uefi,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    Tcg,
    Kvm,
}

impl Accel {
    pub fn name(self) -> &'static str {
        match self {
            Accel::Tcg => "tcg",
            Accel::Kvm => "kvm",
        }
    }

    pub fn parse(s: &str) -> Option<Accel> {
        match s {
            "tcg" => Some(Accel::Tcg),
            "kvm" => Some(Accel::Kvm),
            _ => None,
        }
    }

    /// TCG, unless KVM is available *and* measured to be faster: on nested
    /// virtualisation KVM can exist and still be unusably slow. The verdict
    /// is cached per host boot in `cache_dir`. `LLM_ACCEL=tcg|kvm` forces it.
    pub fn detect(cache_dir: &Path) -> Accel {
        if let Some(a) = std::env::var("LLM_ACCEL")
            .ok()
            .and_then(|s| Accel::parse(&s))
        {
            return a;
        }
        if fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
            .is_err()
        {
            return Accel::Tcg;
        }
        let boot_id = fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
        let cache = cache_dir.join("qemu-accel");
        if let Ok(c) = fs::read_to_string(&cache) {
            if let Some((id, accel)) = c.trim().split_once(' ') {
                if id == boot_id.trim() {
                    if let Some(a) = Accel::parse(accel) {
                        return a;
                    }
                }
            }
        }
        let verdict = probe(cache_dir);
        let _ = fs::create_dir_all(cache_dir);
        let _ = fs::write(&cache, format!("{} {}\n", boot_id.trim(), verdict.name()));
        verdict
    }
}

/// Boots a tiny guest (a boot sector that counts to 2*10^8, does some port
/// I/O and exits through isa-debug-exit) under TCG, then under KVM with
/// TCG's time as the deadline. KVM wins only if it is at least twice as
/// fast.
fn probe(dir: &Path) -> Accel {
    let _ = fs::create_dir_all(dir);
    let sector = dir.join("accel-probe.img");
    if fs::write(&sector, probe_sector()).is_err() {
        return Accel::Tcg;
    }
    let run = |accel: Accel, deadline: Duration| -> Option<Duration> {
        let mut child = Command::new("qemu-system-x86_64")
            .args([
                "-accel",
                accel.name(),
                "-nodefaults",
                "-display",
                "none",
                "-m",
                "16M",
            ])
            .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"])
            .arg("-drive")
            .arg(format!("format=raw,file={},snapshot=on", sector.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                // The probe writes 0x2a: QEMU exits with (0x2a << 1) | 1.
                return (status.code() == Some(0x55)).then(|| start.elapsed());
            }
            if start.elapsed() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let Some(tcg) = run(Accel::Tcg, Duration::from_secs(30)) else {
        return Accel::Tcg;
    };
    match run(Accel::Kvm, tcg) {
        Some(kvm) if kvm * 2 < tcg => Accel::Kvm,
        _ => Accel::Tcg,
    }
}

/// 16-bit boot sector: 2000 `out 0x80`, a 2*10^8 iteration loop, then
/// `out 0xf4, 0x2a`.
fn probe_sector() -> Vec<u8> {
    let n: u32 = 200_000_000;
    let mut code = vec![
        0xfa, // cli
        0xb9, 0xd0, 0x07, // mov cx, 2000
        0xe6, 0x80, // out 0x80, al
        0xe2, 0xfc, // loop -4
        0x66, 0xb9, // mov ecx, n
    ];
    code.extend_from_slice(&n.to_le_bytes());
    code.extend_from_slice(&[
        0x66, 0x49, // dec ecx
        0x75, 0xfc, // jnz -4
        0xb0, 0x2a, // mov al, 0x2a
        0xe6, 0xf4, // out 0xf4, al
        0xf4, // hlt
        0xeb, 0xfd, // jmp -3
    ]);
    code.resize(510, 0);
    code.extend_from_slice(&[0x55, 0xaa]);
    code
}

/// How to run one machine.
#[derive(Clone, Debug)]
pub struct QemuConfig {
    pub firmware: Firmware,
    /// The boot disk (`disk.img`).
    pub image: PathBuf,
    pub memory_mib: u64,
    pub smp: u32,
    pub accel: Accel,
    /// The kernel command line (fw_cfg `opt/llm/cmdline`).
    pub cmdline: String,
    /// Raw disk images attached as virtio-blk devices, in order.
    pub disks: Vec<PathBuf>,
    /// Per disk: extra `-drive` options and extra `-device` options (e.g.
    /// `readonly=on`, `disable-legacy=on`), comma-separated, may be empty.
    pub disk_options: Vec<(String, String)>,
    /// Anything else to pass to QEMU.
    pub extra_args: Vec<String>,
    /// Attach the boot disk as a USB stick (`usb-storage` on a `qemu-xhci`
    /// controller) instead of the default IDE disk.
    pub usb_stick: bool,
}

impl QemuConfig {
    pub fn new(firmware: Firmware, image: impl Into<PathBuf>, accel: Accel) -> Self {
        QemuConfig {
            firmware,
            image: image.into(),
            memory_mib: 1024,
            smp: 1,
            accel,
            cmdline: String::new(),
            disks: Vec::new(),
            disk_options: Vec::new(),
            extra_args: Vec::new(),
            usb_stick: false,
        }
    }

    /// Boots the image from a USB stick on an xHCI controller.
    pub fn usb_stick(mut self) -> Self {
        self.usb_stick = true;
        self
    }

    pub fn memory_mib(mut self, mib: u64) -> Self {
        self.memory_mib = mib;
        self
    }
    pub fn smp(mut self, n: u32) -> Self {
        self.smp = n;
        self
    }
    pub fn cmdline(mut self, cmdline: &str) -> Self {
        self.cmdline = cmdline.into();
        self
    }
    /// Attaches a raw disk image as a virtio-blk PCI device.
    pub fn disk(self, path: impl Into<PathBuf>) -> Self {
        self.disk_with(path, "", "")
    }
    /// Attaches a raw disk image with extra `-drive` options (e.g.
    /// `readonly=on`, which also lets several machines share the file) and
    /// `-device` options (e.g. `disable-legacy=on` for a modern-only
    /// virtio device).
    pub fn disk_with(mut self, path: impl Into<PathBuf>, drive: &str, device: &str) -> Self {
        self.disks.push(path.into());
        self.disk_options.push((drive.into(), device.into()));
        self
    }
    /// A QMP control socket at `socket` (see [`crate::qmp::Qmp`]).
    pub fn qmp(self, socket: &Path) -> Self {
        self.arg("-qmp")
            .arg(format!("unix:{},server=on,wait=off", escape(socket)))
    }
    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.extra_args.push(a.into());
        self
    }

    /// The QEMU command, without the serial console: callers add `-serial`
    /// (see [`crate::Machine`] and `cargo xtask run`).
    pub fn command(&self) -> Command {
        let mut c = Command::new("qemu-system-x86_64");
        match self.accel {
            Accel::Tcg if self.smp > 1 => c.args(["-accel", "tcg,thread=multi", "-cpu", "max"]),
            Accel::Tcg => c.args(["-accel", "tcg", "-cpu", "max"]),
            Accel::Kvm => c.args(["-accel", "kvm", "-cpu", "host"]),
        };
        c.arg("-m").arg(format!("{}M", self.memory_mib));
        c.arg("-smp").arg(self.smp.to_string());
        if self.firmware == Firmware::Uefi {
            c.arg("-bios").arg(ovmf_path());
        }
        // snapshot=on: never write the image, and let several machines
        // share it (no image lock conflict).
        if self.usb_stick {
            c.arg("-drive").arg(format!(
                "if=none,id=stick,format=raw,file={},snapshot=on",
                escape(&self.image)
            ));
            c.args(["-device", "qemu-xhci,id=xhci"]);
            c.args(["-device", "usb-storage,bus=xhci.0,drive=stick"]);
        } else {
            c.arg("-drive").arg(format!(
                "format=raw,file={},snapshot=on",
                escape(&self.image)
            ));
        }
        for (i, d) in self.disks.iter().enumerate() {
            let (drive, device) = self.disk_options.get(i).cloned().unwrap_or_default();
            let opt = |s: &str| {
                if s.is_empty() {
                    String::new()
                } else {
                    format!(",{s}")
                }
            };
            c.arg("-drive").arg(format!(
                "format=raw,file={},if=none,id=disk{i}{}",
                escape(d),
                opt(&drive)
            ));
            c.arg("-device")
                .arg(format!("virtio-blk-pci,drive=disk{i}{}", opt(&device)));
        }
        c.args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]);
        // No -no-reboot: it would turn a triple fault into a clean exit 0.
        // A reset instead boots the kernel again, which the harness and
        // `cargo xtask run` notice (a second boot banner).
        c.args(["-display", "none"]);
        if !self.cmdline.is_empty() {
            c.arg("-fw_cfg").arg(format!(
                "name=opt/llm/cmdline,string={}",
                self.cmdline.replace(',', ",,")
            ));
        }
        c.args(&self.extra_args);
        c
    }
}

/// QEMU option values double commas.
fn escape(p: &Path) -> String {
    p.display().to_string().replace(',', ",,")
}

/// Checks that QEMU (and OVMF when needed) are installed.
pub fn check_installed(firmware: Firmware) -> Result<(), String> {
    let ok = Command::new("qemu-system-x86_64")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        return Err("qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)".into());
    }
    if firmware == Firmware::Uefi && !ovmf_path().is_file() {
        return Err(format!(
            "{} is missing (apt-get install ovmf, or set OVMF_FD)",
            ovmf_path().display()
        ));
    }
    Ok(())
}

/// Writes `contents` to a new file (for disks and ramdisks in tests).
pub fn write_file(path: &Path, contents: &[u8]) {
    let mut f = fs::File::create(path).expect("create file");
    f.write_all(contents).expect("write file");
}

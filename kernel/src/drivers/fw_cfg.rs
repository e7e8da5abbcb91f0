//! QEMU's firmware configuration device (fw_cfg, I/O ports 0x510/0x511):
//! how the kernel reads its command line under QEMU
//! (`-fw_cfg name=opt/llm/cmdline,string=...`).
//!
//! Only probed when CPUID says we run under a hypervisor; on a real PC those
//! ports belong to nobody and are left alone.

use alloc::vec::Vec;
use x86_64::instructions::port::Port;

const SELECTOR: u16 = 0x510;
const DATA: u16 = 0x511;
const KEY_SIGNATURE: u16 = 0x0000;
const KEY_FILE_DIR: u16 = 0x0019;
/// Files larger than this are not read (the command line is short).
const MAX_FILE: u32 = 64 * 1024;

fn select(key: u16) {
    // SAFETY: writing the fw_cfg selector port; only called after the
    // signature check below found the device (or to perform that check
    // under a hypervisor).
    unsafe { Port::<u16>::new(SELECTOR).write(key) };
}

fn read(buf: &mut [u8]) {
    let mut data = Port::<u8>::new(DATA);
    for b in buf {
        // SAFETY: reading the fw_cfg data port streams the selected item.
        *b = unsafe { data.read() };
    }
}

fn read_be32() -> u32 {
    let mut b = [0; 4];
    read(&mut b);
    u32::from_be_bytes(b)
}

/// Whether fw_cfg answers with its "QEMU" signature.
pub fn present() -> bool {
    if crate::arch::cpu_info().hypervisor.is_none() {
        return false;
    }
    select(KEY_SIGNATURE);
    let mut sig = [0; 4];
    read(&mut sig);
    &sig == b"QEMU"
}

/// The contents of the named fw_cfg file, if it exists.
pub fn read_file(name: &str) -> Option<Vec<u8>> {
    if !present() {
        return None;
    }
    select(KEY_FILE_DIR);
    let count = read_be32();
    for _ in 0..count.min(4096) {
        let size = read_be32();
        let mut sel = [0; 2];
        read(&mut sel);
        let mut reserved = [0; 2];
        read(&mut reserved);
        let mut raw_name = [0; 56];
        read(&mut raw_name);
        let len = raw_name.iter().position(|&b| b == 0).unwrap_or(56);
        if &raw_name[..len] == name.as_bytes() {
            if size > MAX_FILE {
                return None;
            }
            select(u16::from_be_bytes(sel));
            let mut contents = alloc::vec![0; size as usize];
            read(&mut contents);
            return Some(contents);
        }
    }
    None
}

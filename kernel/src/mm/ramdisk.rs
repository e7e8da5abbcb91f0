//! The boot ramdisk (`boot --ramdisk FILE`, e.g. a model pack on a USB
//! stick image): the bytes the bootloader loaded, as a slice.

use super::paging;
use x86_64::VirtAddr;

/// The ramdisk the image was built with, if any, where the bootloader
/// mapped it.
pub fn bytes() -> Option<&'static [u8]> {
    let (addr, len) = crate::boot::facts().ramdisk?;
    // SAFETY: the bootloader mapped the ramdisk at this address for the
    // kernel's lifetime; nothing writes to it.
    Some(unsafe { core::slice::from_raw_parts(addr as *const u8, len as usize) })
}

/// `r` (the ramdisk, from [`bytes`]) for heavy use: if the bootloader
/// loaded it into physically contiguous memory (it does), the same bytes
/// through the physical-memory mapping, which uses 2 MiB pages; otherwise
/// `r` itself, through the bootloader's own mapping.
pub fn direct_view(r: &'static [u8]) -> &'static [u8] {
    let start = VirtAddr::from_ptr(r.as_ptr());
    let Some((phys0, _)) = paging::translate(start) else {
        return r;
    };
    let mut off = 4096 - start.as_u64() % 4096;
    while off < r.len() as u64 {
        match paging::translate(start + off) {
            Some((p, _)) if p.as_u64() == phys0.as_u64() + off => {}
            _ => {
                log::debug!(
                    "ramdisk: not physically contiguous; used where the bootloader mapped it"
                );
                return r;
            }
        }
        off += 4096;
    }
    let v = paging::phys_to_virt(phys0);
    log::debug!(
        "ramdisk at physical {:#x}, used through the physical-memory mapping",
        phys0.as_u64()
    );
    // SAFETY: `r`'s frames are contiguous from `phys0` (checked above);
    // `r` is an immutable `'static` slice, so they stay its own and nothing
    // writes to them: the alias is read-only like `r`.
    unsafe { core::slice::from_raw_parts(v.as_ptr::<u8>(), r.len()) }
}

//! Kernel stacks with a guard page: an unmapped page right below each stack,
//! so running off its end faults instead of silently corrupting memory.

use crate::mm;
use spin::Mutex;
use x86_64::VirtAddr;

/// Boot, IST and AP stacks, and one per task slot (`klib::sched::MAX_TASKS`).
const MAX_STACKS: usize = 96;

#[derive(Clone, Copy)]
struct Guard {
    name: &'static str,
    start: u64,
    end: u64,
}

static GUARDS: Mutex<[Option<Guard>; MAX_STACKS]> = Mutex::new([None; MAX_STACKS]);

/// Allocates a stack of `size` bytes (rounded up to pages) with a guard
/// page below it; returns its top (16-byte aligned).
pub fn allocate(name: &'static str, size: u64) -> VirtAddr {
    let size = size.next_multiple_of(mm::PAGE_SIZE);
    let base = mm::vspace::reserve(size + mm::PAGE_SIZE, mm::PAGE_SIZE);
    let bottom = base + mm::PAGE_SIZE;
    mm::paging::map_fresh(bottom, size, mm::paging::Access::ReadWrite)
        .expect("out of memory for a kernel stack");
    let mut guards = GUARDS.lock();
    if let Some(slot) = guards.iter_mut().find(|g| g.is_none()) {
        *slot = Some(Guard {
            name,
            start: base.as_u64(),
            end: bottom.as_u64(),
        });
    }
    bottom + size
}

/// If `addr` lies in a guard page (or just below it, where a big stack
/// frame would land), the name of the stack it belongs to. Lock-free
/// fallback: called from fault handlers, so it only tries the lock.
pub fn guard_hit(addr: u64) -> Option<&'static str> {
    let guards = GUARDS.try_lock()?;
    guards
        .iter()
        .flatten()
        .find(|g| addr >= g.start.saturating_sub(64 * 1024) && addr < g.end)
        .map(|g| g.name)
}

/// Continues on a new stack: sets RSP to `top` and calls `f`, which never
/// returns. The old stack is abandoned.
pub fn switch_to(top: VirtAddr, f: extern "C" fn() -> !) -> ! {
    // SAFETY: `top` is the top of a mapped, otherwise unused stack; `f`
    // never returns, so nothing ever needs the old stack again.
    unsafe {
        core::arch::asm!(
            "mov rsp, {top}",
            "xor ebp, ebp",
            "call {f}",
            "ud2",
            top = in(reg) top.as_u64(),
            f = in(reg) f,
            options(noreturn)
        )
    }
}

/// Runs `f` with the stack pointer aligned to 16 bytes.
///
/// The exception handlers that receive an error code can run with RSP
/// misaligned by 8, and code they call then faults on its first aligned
/// SSE spill (`movaps` to the stack) - a fault in the fault report, which
/// recursed until the stack ran out. The fatal report goes through here.
pub fn call_aligned(f: &mut dyn FnMut()) {
    extern "C" fn trampoline(f: *mut &mut dyn FnMut()) {
        // SAFETY: `f` points to the `&mut dyn FnMut()` on the caller's
        // stack below, alive for the whole call.
        unsafe { (*f)() }
    }
    let mut f = f;
    let p: *mut &mut dyn FnMut() = &mut f;
    // SAFETY: saves RSP in RBP (callee-saved, restored), aligns RSP down
    // (the red zone is disabled for this target), calls the trampoline
    // with the C ABI and puts RSP and RBP back.
    unsafe {
        core::arch::asm!(
            "push rbp",
            "mov rbp, rsp",
            "and rsp, -16",
            "call {t}",
            "mov rsp, rbp",
            "pop rbp",
            t = sym trampoline,
            in("rdi") p,
            clobber_abi("C"),
        );
    }
}

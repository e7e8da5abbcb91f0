//! The context switch between kernel tasks (see `crate::task::sched`).
//!
//! A task's context is its stack pointer (the callee-saved registers are
//! pushed on its stack when it switches away) and its SIMD state, saved
//! with XSAVE under the XCR0 mask the entry stub set (x87, SSE and, where
//! present, AVX: the upper YMM halves too), or FXSAVE on a CPU without
//! XSAVE. The switch saves and restores that state on every switch, the
//! voluntary ones (yield, sleep) and the preemptive ones (from the timer
//! interrupt, where the interrupted code may have live YMM registers).
//!
//! Contexts live in a fixed table, one row of slots per CPU (the caller
//! passes `cpu * MAX_TASKS + slot`), so callers name tasks by index and
//! never hold pointers into it. A context is only switched by its own CPU.

use super::entry::MXCSR_INIT;
use super::percpu::MAX_CPUS;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use klib::sched::MAX_TASKS;
use x86_64::VirtAddr;

struct Context {
    rsp: AtomicU64,
    /// The SIMD save area (64-byte aligned, allocated on first use and
    /// kept for the slot's later tasks).
    area: AtomicPtr<u8>,
}

static CONTEXTS: [Context; MAX_TASKS * MAX_CPUS] = [const {
    Context {
        rsp: AtomicU64::new(0),
        area: AtomicPtr::new(core::ptr::null_mut()),
    }
}; MAX_TASKS * MAX_CPUS];

/// The XSAVE requested-feature mask (XCR0), read as two dwords by the
/// switch code.
static XSAVE_MASK: AtomicU64 = AtomicU64::new(0);
static USE_XSAVE: AtomicBool = AtomicBool::new(false);
static AREA_SIZE: AtomicU64 = AtomicU64::new(512);

/// Reads how the SIMD state is saved on this CPU. Call once, on the boot
/// CPU, before the first task is created.
pub fn init() {
    // CPUID.1:ECX bit 27 = OSXSAVE (the entry stub set CR4.OSXSAVE).
    if super::cpu::cpuid(1, 0).ecx & (1 << 27) != 0 {
        XSAVE_MASK.store(
            x86_64::registers::xcontrol::XCr0::read_raw(),
            Ordering::SeqCst,
        );
        // CPUID.(0xD, 0):EBX = save area size for the features in XCR0.
        let size = super::cpu::cpuid(0xd, 0).ebx as u64;
        AREA_SIZE.store(size.max(576), Ordering::SeqCst);
        USE_XSAVE.store(true, Ordering::SeqCst);
    }
    log::debug!(
        "tasks: SIMD state saved with {} ({} bytes, mask {:#x})",
        if USE_XSAVE.load(Ordering::Relaxed) {
            "XSAVE"
        } else {
            "FXSAVE"
        },
        AREA_SIZE.load(Ordering::Relaxed),
        XSAVE_MASK.load(Ordering::Relaxed)
    );
}

/// How the SIMD state is saved, for `/ps`: ("XSAVE" or "FXSAVE", bytes).
pub fn simd_save() -> (&'static str, u64) {
    let how = if USE_XSAVE.load(Ordering::Relaxed) {
        "XSAVE"
    } else {
        "FXSAVE"
    };
    (how, AREA_SIZE.load(Ordering::Relaxed))
}

/// The slot's save area, reset to the initial SIMD state: x87 control word
/// 0x37f, MXCSR as the entry stub sets it, every register zero (an XSAVE
/// header with no component saved means "initial state").
fn fresh_area(slot: usize) -> *mut u8 {
    let size = AREA_SIZE.load(Ordering::Relaxed) as usize;
    let ctx = &CONTEXTS[slot];
    let mut p = ctx.area.load(Ordering::Acquire);
    if p.is_null() {
        let layout = core::alloc::Layout::from_size_align(size, 64).expect("save area layout");
        // SAFETY: a non-zero-sized layout; the area is kept for the slot
        // forever (never freed).
        p = unsafe { alloc::alloc::alloc_zeroed(layout) };
        assert!(!p.is_null(), "out of memory for a task's SIMD save area");
        ctx.area.store(p, Ordering::Release);
    }
    // SAFETY: `p` points at `size` bytes owned by this slot, not in use
    // (the slot's previous task has finished or this is its first task).
    unsafe {
        core::ptr::write_bytes(p, 0, size);
        (p as *mut u16).write(0x37f);
        (p.add(24) as *mut u32).write(MXCSR_INIT);
    }
    p
}

/// Makes `slot` the context of the code running now (the boot flow, which
/// becomes the console task): its registers are saved at its first switch.
pub fn adopt(slot: usize) {
    fresh_area(slot);
}

/// Prepares `slot` to start at `entry` on the stack whose top is `top`,
/// with interrupts disabled and the initial SIMD state. `entry` must
/// never return.
pub fn prepare(slot: usize, top: VirtAddr, entry: extern "C" fn() -> !) {
    fresh_area(slot);
    let top = top.as_u64() & !15;
    // Layout below `top`: a zero "return address" (so `entry` starts with
    // the stack aligned as after a call), `entry` (popped by the switch's
    // `ret`), and the six callee-saved registers the switch pops (zero).
    let frame = top - 64;
    // SAFETY: the 64 bytes below `top` lie in the slot's stack, which is
    // mapped and used by nothing else until the task first runs.
    unsafe {
        let words = frame as *mut u64;
        for i in 0..6 {
            words.add(i).write(0);
        }
        words.add(6).write(entry as usize as u64);
        words.add(7).write(0);
    }
    CONTEXTS[slot].rsp.store(frame, Ordering::Release);
}

/// Switches from the task in slot `from` (the code running now) to the
/// one in slot `to`. Returns when some task switches back to `from`.
/// Interrupts must be disabled (they stay disabled across the switch; the
/// resumed code restores its own interrupt flag).
pub fn switch(from: usize, to: usize) {
    assert!(
        !x86_64::instructions::interrupts::are_enabled(),
        "context switch with interrupts enabled"
    );
    if from == to {
        return;
    }
    let save_rsp = CONTEXTS[from].rsp.as_ptr();
    let load_rsp = CONTEXTS[to].rsp.load(Ordering::Acquire);
    let save_area = CONTEXTS[from].area.load(Ordering::Acquire);
    let load_area = CONTEXTS[to].area.load(Ordering::Acquire);
    assert!(
        load_rsp != 0 && !save_area.is_null() && !load_area.is_null(),
        "switch to an unprepared task"
    );
    if USE_XSAVE.load(Ordering::Relaxed) {
        // SAFETY: both areas are 64-byte aligned and AREA_SIZE long; the
        // target's stack holds the frame `prepare` or an earlier switch
        // left; interrupts are off and both contexts belong to this CPU's
        // table (only it switches them), so no one else touches either
        // meanwhile.
        unsafe { switch_xsave(save_rsp, load_rsp, save_area, load_area) }
    } else {
        // SAFETY: as above (FXSAVE needs 16-byte alignment and 512 bytes).
        unsafe { switch_fxsave(save_rsp, load_rsp, save_area, load_area) }
    }
}

/// The first half of both switches: the callee-saved registers go onto
/// the current stack.
macro_rules! save_callee_saved {
    () => {
        "push rbp\npush rbx\npush r12\npush r13\npush r14\npush r15"
    };
}

/// The second half: saves RSP to `[rdi]`, loads the next task's RSP from
/// `rsi`, pops its callee-saved registers and returns into it.
macro_rules! switch_stacks_and_return {
    () => {
        "mov [rdi], rsp\nmov rsp, rsi\npop r15\npop r14\npop r13\npop r12\npop rbx\npop rbp\nret"
    };
}

/// rdi = where to save RSP, rsi = RSP to load, rdx = save area to fill,
/// rcx = save area to load.
// SAFETY: naked: the body is all assembly and ends in `ret`; callers
// (`switch`) must pass a valid RSP slot, a stack prepared by `prepare` or
// an earlier switch, and 64-byte aligned XSAVE areas of AREA_SIZE bytes.
#[unsafe(naked)]
unsafe extern "C" fn switch_xsave(
    save: *mut u64,
    load: u64,
    save_area: *mut u8,
    load_area: *mut u8,
) {
    core::arch::naked_asm!(
        save_callee_saved!(),
        "mov r8, rdx",
        "mov eax, dword ptr [rip + {mask}]",
        "mov edx, dword ptr [rip + {mask} + 4]",
        "xsave64 [r8]",
        "xrstor64 [rcx]",
        switch_stacks_and_return!(),
        mask = sym XSAVE_MASK,
    )
}

// SAFETY: as `switch_xsave`, with 16-byte aligned 512-byte FXSAVE areas.
#[unsafe(naked)]
unsafe extern "C" fn switch_fxsave(
    save: *mut u64,
    load: u64,
    save_area: *mut u8,
    load_area: *mut u8,
) {
    core::arch::naked_asm!(
        save_callee_saved!(),
        "fxsave64 [rdx]",
        "fxrstor64 [rcx]",
        switch_stacks_and_return!(),
    )
}

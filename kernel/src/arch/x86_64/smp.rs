//! Starting the application processors (APs).
//!
//! `bootloader` starts only the boot CPU. The others wait for an
//! INIT-SIPI-SIPI sequence, after which they run in real mode at the start
//! of the 4 KiB page the SIPI names. The trampoline below is copied to a
//! free page below 1 MiB (see [`crate::boot::Facts::trampoline_page`]):
//! from real mode it loads a small GDT, switches on PAE, long mode and
//! paging with the kernel's own page tables (where the trampoline page is
//! identity-mapped), and jumps straight into 64-bit code. There it sets
//! CR0, CR4, XCR0 and MXCSR to the boot CPU's values (so SSE/AVX are on
//! before any Rust code runs), takes the stack the boot CPU prepared and
//! calls [`ap_entry`], which loads the AP's own GDT/TSS (with IST stacks),
//! the IDT, its GS base (per-CPU data), its local APIC and timer, and
//! becomes a compute-team worker, and, once the boot CPU schedules, that
//! CPU's worker task beside which other tasks run (`task::sched`).
//!
//! The APs are started one after the other; each has a timeout, and one
//! that does not answer is reported and skipped. A CPU claims the
//! trampoline's start-up data with an atomic bit, so a late starter cannot
//! share a stack with the next one.

use super::{apic, cpu, gdt, idt, percpu};
use crate::arch::x86_64::apic::Ipi;
use crate::arch::x86_64::percpu::{State, MAX_CPUS};
use crate::mm::{self, paging};
use crate::time;
use core::time::Duration;
use spin::Mutex;
use x86_64::registers::control::{Cr0, Cr3, Cr4};
use x86_64::registers::model_specific::Efer;
use x86_64::{PhysAddr, VirtAddr};

/// Each AP's kernel stack (it runs the compute team's jobs).
pub const AP_STACK: u64 = 1024 * 1024;
/// Each AP's IST stacks (double fault, NMI, machine check).
const AP_IST_STACK: u64 = 32 * 1024;
/// How long an AP has to answer its start-up IPIs (TCG on a loaded host
/// can be slow).
const ANSWER_TIMEOUT: Duration = Duration::from_millis(2000);

core::arch::global_asm!(
    ".section .text.ap_trampoline, \"ax\"",
    ".global ap_trampoline_start",
    ".global ap_trampoline_end",
    ".global ap_tramp_gdt",
    ".global ap_tramp_gdtr",
    ".global ap_tramp_farptr",
    ".global ap_tramp_long",
    ".global ap_tramp_data",
    ".code16",
    // Fixed layout (offsets from the start): 8.. data words (see
    // `Slot`), 88 GDT, 112 GDTR, 120 far pointer, 128 code.
    "ap_trampoline_start:",
    "jmp 2f",
    ".org 8",
    "ap_tramp_data:",
    ".fill 10, 8, 0",
    ".org 88",
    "ap_tramp_gdt:",
    ".quad 0",
    ".quad 0x00af9a000000ffff",
    ".quad 0x00cf92000000ffff",
    ".org 112",
    "ap_tramp_gdtr:",
    ".word 23",
    ".long 0",
    ".org 120",
    "ap_tramp_farptr:",
    ".long 0",
    ".word 0x08",
    ".org 128",
    "2:",
    "cli",
    "cld",
    "mov ax, cs",
    "mov ds, ax",
    "lgdt [112]",
    // CR4.PAE, CR3 = the kernel's page tables (below 4 GiB, checked).
    "mov eax, cr4",
    "or eax, 0x20",
    "mov cr4, eax",
    "mov eax, dword ptr [8]",
    "mov cr3, eax",
    // EFER: the boot CPU's (LME, NXE, ...), LMA masked by the boot CPU.
    "mov ecx, 0xc0000080",
    "mov eax, dword ptr [16]",
    "mov edx, dword ptr [20]",
    "wrmsr",
    // CR0.PE | CR0.PG: long mode (compatibility) at once.
    "mov eax, cr0",
    "or eax, 0x80000001",
    "mov cr0, eax",
    // jmp far dword [120]: selector 0x08 is 64-bit code.
    ".byte 0x66, 0xff, 0x2e",
    ".word 120",
    ".code64",
    "ap_tramp_long:",
    "mov ax, 0x10",
    "mov ds, ax",
    "mov es, ax",
    "mov ss, ax",
    "xor eax, eax",
    "mov fs, ax",
    "mov gs, ax",
    "lea rbx, [rip + ap_tramp_data]",
    // Claim the start-up data; a second claimer halts for good.
    "lock bts qword ptr [rbx + 72], 0",
    "jc 3f",
    "mov rax, [rbx + 16]",
    "mov cr0, rax",
    "mov rax, [rbx + 24]",
    "mov cr4, rax",
    "mov rax, [rbx + 32]",
    "test rax, rax",
    "jz 1f",
    "mov rdx, rax",
    "shr rdx, 32",
    "xor ecx, ecx",
    "xsetbv",
    "1:",
    "fninit",
    "ldmxcsr [rbx + 40]",
    "mov rsp, [rbx + 48]",
    "mov rdi, [rbx + 56]",
    "mov rax, [rbx + 64]",
    "xor ebp, ebp",
    "call rax",
    "3:",
    "cli",
    "hlt",
    "jmp 3b",
    "ap_trampoline_end:",
    ".text",
);

// SAFETY: the labels are defined by the `global_asm!` above with exactly
// these names; only their addresses are taken (`&raw const`), never a value
// read through the `u8` type.
unsafe extern "C" {
    static ap_trampoline_start: u8;
    static ap_trampoline_end: u8;
    static ap_tramp_gdt: u8;
    static ap_tramp_gdtr: u8;
    static ap_tramp_farptr: u8;
    static ap_tramp_long: u8;
    static ap_tramp_data: u8;
}

/// Offset of a trampoline symbol from its start.
fn offset(sym: *const u8) -> u64 {
    sym as u64 - (&raw const ap_trampoline_start) as u64
}

/// The IST stack tops prepared for each AP, picked up in [`ap_entry`].
static AP_IST: Mutex<[[u64; gdt::IST_COUNT]; MAX_CPUS]> =
    Mutex::new([[0; gdt::IST_COUNT]; MAX_CPUS]);

/// What starting the APs gave.
#[derive(Clone, Copy, Debug, Default)]
pub struct Started {
    /// CPUs running, the boot CPU included.
    pub running: usize,
    /// CPUs the MADT lists (the boot CPU included).
    pub listed: usize,
}

static STARTED: spin::Once<Started> = spin::Once::new();

/// How many CPUs run (1 until [`start_aps`] has run).
pub fn started() -> Started {
    STARTED.get().copied().unwrap_or(Started {
        running: 1,
        listed: 1,
    })
}

/// Marks the boot CPU's per-CPU slot (slot 0) and points its GS base at it.
pub fn init_boot_cpu() {
    percpu::install(0, apic::id());
    percpu::cpu(0).set_state(State::Shell);
}

/// Starts every enabled AP in `apic_ids` (from the MADT), one at a time;
/// returns how many CPUs run. Interrupts and the timer must be running.
pub fn start_aps(apic_ids: &[u32]) -> Started {
    let listed = 1 + apic_ids.len();
    let running = 1 + start_all(apic_ids);
    *STARTED.call_once(|| Started { running, listed })
}

fn start_all(apic_ids: &[u32]) -> usize {
    let me = apic::id();
    let targets: alloc::vec::Vec<u32> = apic_ids.iter().copied().filter(|&id| id != me).collect();
    if targets.is_empty() {
        return 0;
    }
    let Some(page) = crate::boot::facts().trampoline_page else {
        log::warn!(
            "smp: no free page below 1 MiB for the start-up trampoline; only the boot CPU runs"
        );
        return 0;
    };
    let cr3 = Cr3::read().0.start_address().as_u64();
    if cr3 >= 1 << 32 {
        log::warn!("smp: the page tables lie above 4 GiB ({cr3:#x}); only the boot CPU runs");
        return 0;
    }
    match paging::map(
        VirtAddr::new(page),
        PhysAddr::new(page),
        mm::PAGE_SIZE,
        paging::Access::Trampoline,
    ) {
        Ok(()) => {}
        Err(e) => {
            log::warn!("smp: cannot identity-map the trampoline page {page:#x} ({e:?}); only the boot CPU runs");
            return 0;
        }
    }
    let len = offset(&raw const ap_trampoline_end) as usize;
    assert!(
        len <= mm::PAGE_SIZE as usize,
        "the AP trampoline outgrew its page"
    );
    let low = paging::phys_to_virt(PhysAddr::new(page)).as_mut_ptr::<u8>();
    // SAFETY: `page` is a free RAM page below 1 MiB that the frame
    // allocator never hands out (it keeps the low 1 MiB); the trampoline
    // code is `len` bytes of this kernel's text.
    unsafe { core::ptr::copy_nonoverlapping(&raw const ap_trampoline_start, low, len) };
    let put32 = |off: u64, v: u32| {
        // SAFETY: `off` lies inside the copied trampoline (offsets of its
        // own symbols), in the page mapped at `low`.
        unsafe { (low.add(off as usize) as *mut u32).write_volatile(v) }
    };
    let data = offset(&raw const ap_tramp_data);
    debug_assert_eq!(
        (
            data,
            offset(&raw const ap_tramp_gdtr),
            offset(&raw const ap_tramp_farptr)
        ),
        (8, 112, 120)
    );
    let put64 = |slot: u64, v: u64| {
        // SAFETY: as above; the data block is 8-byte aligned and 10 words long.
        unsafe { (low.add((data + slot * 8) as usize) as *mut u64).write_volatile(v) }
    };
    put32(
        offset(&raw const ap_tramp_gdtr) + 2,
        (page + offset(&raw const ap_tramp_gdt)) as u32,
    );
    put32(
        offset(&raw const ap_tramp_farptr),
        (page + offset(&raw const ap_tramp_long)) as u32,
    );
    put64(0, cr3);
    put64(1, Efer::read_raw() & !(1 << 10)); // LMA is the CPU's to set
    put64(2, Cr0::read_raw());
    put64(3, Cr4::read_raw());
    put64(4, cpu::xcr0_bits());
    put64(5, cpu::mxcsr() as u64);
    put64(8, ap_entry as *const () as u64);

    let mut next = 1;
    for &id in &targets {
        if next >= MAX_CPUS {
            log::warn!(
                "smp: {} more CPU(s) listed beyond the {MAX_CPUS} supported; they stay halted",
                targets.len() + 1 - MAX_CPUS
            );
            break;
        }
        let top = crate::arch::x86_64::stack::allocate("AP kernel stack", AP_STACK);
        let mut ist = [0; gdt::IST_COUNT];
        for t in &mut ist {
            *t = crate::arch::x86_64::stack::allocate("AP IST stack", AP_IST_STACK).as_u64();
        }
        AP_IST.lock()[next] = ist;
        put64(6, top.as_u64());
        put64(7, next as u64);
        put64(9, 0);
        let slot = percpu::cpu(next);
        slot.apic_id
            .store(id, core::sync::atomic::Ordering::Release);
        slot.set_state(State::Starting);
        if start_one(id, (page >> 12) as u8, slot) {
            log::debug!("smp: CPU {next} (APIC id {id}) running");
            next += 1;
        } else {
            slot.set_state(State::NoAnswer);
            log::warn!(
                "smp: the CPU with APIC id {id} did not answer within {} ms; skipped",
                ANSWER_TIMEOUT.as_millis()
            );
            // Its slot stays taken: should it start late, it finds its
            // state is no longer `Starting` and halts.
            next += 1;
        }
    }
    (1..next)
        .filter(|&i| percpu::cpu(i).state() != State::NoAnswer)
        .count()
}

/// INIT, then up to two SIPIs; waits for the AP to leave `Starting`.
fn start_one(apic_id: u32, vector_page: u8, slot: &percpu::PerCpu) -> bool {
    apic::send_ipi(apic_id, Ipi::Init);
    time::busy_wait(Duration::from_millis(10));
    for attempt in 0..2 {
        apic::send_ipi(apic_id, Ipi::Startup(vector_page));
        let wait = if attempt == 0 {
            Duration::from_millis(1)
        } else {
            ANSWER_TIMEOUT
        };
        let end = time::uptime() + wait;
        while time::uptime() < end {
            if slot.state() != State::Starting {
                return true;
            }
            core::hint::spin_loop();
        }
    }
    slot.state() != State::Starting
}

/// Where an AP's 64-bit code arrives, on the stack prepared for it, with
/// SSE/AVX/MXCSR already set like the boot CPU's.
extern "C" fn ap_entry(index: usize) -> ! {
    let ist = AP_IST.lock()[index];
    gdt::init_ap(ist.map(VirtAddr::new));
    idt::init();
    apic::init_ap();
    percpu::install(index, apic::id());
    let me = percpu::cpu(index);
    if me.state() != State::Starting {
        // Timed out earlier: the boot CPU gave up on this one.
        cpu::halt_forever();
    }
    time::start_ap_timer();
    me.set_state(State::Idle);
    x86_64::instructions::interrupts::enable();
    crate::task::team::worker_loop(me, AP_STACK)
}

/// Wakes CPU `index` from `hlt` (it is waiting for compute-team work).
pub fn wake(index: usize) {
    send_fixed(index, idt::vector::WAKE);
}

/// Makes CPU `index` choose its next task now (a task there was started or
/// woken from this CPU).
pub fn resched(index: usize) {
    send_fixed(index, idt::vector::RESCHED);
}

fn send_fixed(index: usize, vector: u8) {
    let id = percpu::cpu(index)
        .apic_id
        .load(core::sync::atomic::Ordering::Acquire);
    apic::send_ipi(id, Ipi::Fixed(vector));
}

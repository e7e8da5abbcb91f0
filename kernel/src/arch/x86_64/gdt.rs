//! GDT and TSS. The TSS holds the interrupt stack table (IST): double
//! faults, NMIs and machine checks switch to stacks of their own, so they
//! are diagnosed even when the kernel stack is exhausted or corrupt.
//!
//! Until the memory manager is up the IST entries point at small static
//! stacks; [`set_ist_stack`] later replaces them with stacks that have a
//! guard page below them.

use core::cell::UnsafeCell;
use spin::Once;
use x86_64::instructions::segmentation::{Segment, CS, DS, ES, SS};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;
use x86_64::VirtAddr;

/// IST slots (0-based indexes as the `x86_64` crate counts them).
pub const DOUBLE_FAULT_IST: u16 = 0;
pub const NMI_IST: u16 = 1;
pub const MACHINE_CHECK_IST: u16 = 2;
pub const IST_COUNT: usize = 3;

const BOOT_IST_SIZE: usize = 16 * 1024;

#[repr(C, align(16))]
struct BootStack([u8; BOOT_IST_SIZE]);

/// The static early stacks. Only the CPU writes to them (as stacks).
struct BootStacks(UnsafeCell<[BootStack; IST_COUNT]>);
// SAFETY: never accessed from Rust, only handed to the CPU as stacks.
unsafe impl Sync for BootStacks {}
static BOOT_STACKS: BootStacks = BootStacks(UnsafeCell::new(
    [const { BootStack([0; BOOT_IST_SIZE]) }; IST_COUNT],
));

/// The TSS is read by the CPU on every IST switch; we only write it while
/// setting up stacks.
struct Tss(UnsafeCell<TaskStateSegment>);
// SAFETY: written only during single-threaded boot (init, set_ist_stack).
unsafe impl Sync for Tss {}
static TSS: Tss = Tss(UnsafeCell::new(TaskStateSegment::new()));

struct Gdt {
    table: GlobalDescriptorTable,
    code: SegmentSelector,
    data: SegmentSelector,
    tss: SegmentSelector,
}

static GDT: Once<Gdt> = Once::new();

/// Loads the GDT and TSS and reloads the segment registers.
pub fn init() {
    // SAFETY: boot is single-threaded and the TSS is not loaded yet.
    let tss = unsafe { &mut *TSS.0.get() };
    for i in 0..IST_COUNT {
        let base = BOOT_STACKS.0.get() as u64 + (i * BOOT_IST_SIZE) as u64;
        tss.interrupt_stack_table[i] = VirtAddr::new(base + BOOT_IST_SIZE as u64);
    }
    let gdt = GDT.call_once(|| {
        let mut table = GlobalDescriptorTable::new();
        let code = table.append(Descriptor::kernel_code_segment());
        let data = table.append(Descriptor::kernel_data_segment());
        // SAFETY: the TSS is a static that lives forever.
        let tss = table.append(Descriptor::tss_segment(unsafe { &*TSS.0.get() }));
        Gdt {
            table,
            code,
            data,
            tss,
        }
    });
    gdt.table.load();
    // SAFETY: the selectors come from the GDT just loaded.
    unsafe {
        CS::set_reg(gdt.code);
        SS::set_reg(gdt.data);
        DS::set_reg(gdt.data);
        ES::set_reg(gdt.data);
        load_tss(gdt.tss);
    }
}

/// Points IST slot `index` at a new stack top (a guarded stack from the
/// memory manager).
pub fn set_ist_stack(index: u16, top: VirtAddr) {
    // SAFETY: an aligned u64 store into the TSS; the CPU picks the new
    // value up on the next interrupt using this slot. Called during boot.
    unsafe { (*TSS.0.get()).interrupt_stack_table[index as usize] = top };
}

/// An application processor's own GDT and TSS (heap-allocated, never
/// freed), with its IST slots at the given stack tops; loads them.
pub fn init_ap(ist_tops: [VirtAddr; IST_COUNT]) {
    let mut tss = TaskStateSegment::new();
    for (i, top) in ist_tops.into_iter().enumerate() {
        tss.interrupt_stack_table[i] = top;
    }
    let tss: &'static TaskStateSegment = alloc::boxed::Box::leak(alloc::boxed::Box::new(tss));
    let mut table = GlobalDescriptorTable::new();
    let code = table.append(Descriptor::kernel_code_segment());
    let data = table.append(Descriptor::kernel_data_segment());
    let tss_sel = table.append(Descriptor::tss_segment(tss));
    let table: &'static GlobalDescriptorTable =
        alloc::boxed::Box::leak(alloc::boxed::Box::new(table));
    table.load();
    // SAFETY: the selectors come from the GDT just loaded, whose TSS
    // descriptor points at this CPU's own (leaked, so permanent) TSS.
    unsafe {
        CS::set_reg(code);
        SS::set_reg(data);
        DS::set_reg(data);
        ES::set_reg(data);
        load_tss(tss_sel);
    }
}

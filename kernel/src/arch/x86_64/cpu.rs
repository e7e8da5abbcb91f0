//! What the CPU is and which of its SIMD features are switched on.

use alloc::string::String;
use alloc::vec::Vec;
use core::arch::x86_64::{__cpuid_count, CpuidResult};
use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};
use x86_64::registers::xcontrol::{XCr0, XCr0Flags};

pub(crate) fn cpuid(leaf: u32, sub: u32) -> CpuidResult {
    // CPUID is available on every x86_64 CPU and has no side effects.
    #[allow(unused_unsafe)]
    // SAFETY: see above.
    unsafe {
        __cpuid_count(leaf, sub)
    }
}

fn bit(v: u32, n: u32) -> bool {
    v & (1 << n) != 0
}

/// CPUID facts read once at boot.
#[derive(Clone, Debug)]
pub struct CpuInfo {
    pub vendor: String,
    pub brand: String,
    pub family: u32,
    pub model: u32,
    pub stepping: u32,
    pub hypervisor: Option<String>,
    leaf1_ecx: u32,
    leaf1_edx: u32,
    leaf7_ebx: u32,
}

/// A CPU feature: its name and whether the CPU reports it.
pub struct Feature {
    pub name: &'static str,
    pub present: bool,
    /// Whether the OS side is switched on too (SIMD state enabled).
    pub enabled: bool,
}

impl CpuInfo {
    pub fn read() -> CpuInfo {
        let l0 = cpuid(0, 0);
        let vendor = ascii(&[l0.ebx, l0.edx, l0.ecx]);
        let l1 = cpuid(1, 0);
        let base_family = (l1.eax >> 8) & 0xf;
        let base_model = (l1.eax >> 4) & 0xf;
        let family = if base_family == 0xf {
            base_family + ((l1.eax >> 20) & 0xff)
        } else {
            base_family
        };
        let model = if base_family == 0x6 || base_family == 0xf {
            base_model | (((l1.eax >> 16) & 0xf) << 4)
        } else {
            base_model
        };
        let leaf7_ebx = if l0.eax >= 7 { cpuid(7, 0).ebx } else { 0 };
        let max_ext = cpuid(0x8000_0000, 0).eax;
        let brand = if max_ext >= 0x8000_0004 {
            let regs: Vec<u32> = (0x8000_0002..=0x8000_0004)
                .flat_map(|l| {
                    let r = cpuid(l, 0);
                    [r.eax, r.ebx, r.ecx, r.edx]
                })
                .collect();
            String::from(ascii(&regs).trim())
        } else {
            String::from("(no brand string)")
        };
        let hypervisor = bit(l1.ecx, 31).then(|| {
            let h = cpuid(0x4000_0000, 0);
            ascii(&[h.ebx, h.ecx, h.edx])
        });
        CpuInfo {
            vendor,
            brand,
            family,
            model,
            stepping: l1.eax & 0xf,
            hypervisor,
            leaf1_ecx: l1.ecx,
            leaf1_edx: l1.edx,
            leaf7_ebx,
        }
    }

    pub fn has_avx2(&self) -> bool {
        bit(self.leaf7_ebx, 5)
    }
    pub fn has_fma(&self) -> bool {
        bit(self.leaf1_ecx, 12)
    }

    /// The SIMD features, with whether each is usable right now.
    pub fn simd_features(&self) -> Vec<Feature> {
        let sse_on = sse_enabled();
        let avx_on = avx_enabled();
        let f = |name, present: bool, needs_avx_state: bool| Feature {
            name,
            present,
            enabled: present && if needs_avx_state { avx_on } else { sse_on },
        };
        let (c, d, b7) = (self.leaf1_ecx, self.leaf1_edx, self.leaf7_ebx);
        alloc::vec![
            f("sse", bit(d, 25), false),
            f("sse2", bit(d, 26), false),
            f("sse3", bit(c, 0), false),
            f("ssse3", bit(c, 9), false),
            f("sse4.1", bit(c, 19), false),
            f("sse4.2", bit(c, 20), false),
            f("avx", bit(c, 28), true),
            f("avx2", bit(b7, 5), true),
            f("fma", bit(c, 12), true),
            f("f16c", bit(c, 29), true),
            f("avx512f", bit(b7, 16), false),
        ]
        .into_iter()
        .map(|mut feat| {
            // AVX-512 state (XCR0 bits 5-7) is not switched on by the entry
            // stub, so AVX-512 is never usable.
            if feat.name == "avx512f" {
                feat.enabled = false;
            }
            feat
        })
        .collect()
    }
}

/// SSE usable: CR0.EM clear and CR4.OSFXSR set (done by the entry stub).
pub fn sse_enabled() -> bool {
    !Cr0::read().contains(Cr0Flags::EMULATE_COPROCESSOR) && Cr4::read().contains(Cr4Flags::OSFXSR)
}

/// AVX usable: CR4.OSXSAVE set and XCR0 enables SSE and AVX state.
pub fn avx_enabled() -> bool {
    Cr4::read().contains(Cr4Flags::OSXSAVE)
        && XCr0::read().contains(XCr0Flags::SSE | XCr0Flags::AVX)
}

/// XCR0 if XSAVE is on, else 0.
pub fn xcr0_bits() -> u64 {
    if Cr4::read().contains(Cr4Flags::OSXSAVE) {
        XCr0::read_raw()
    } else {
        0
    }
}

/// The current MXCSR.
pub fn mxcsr() -> u32 {
    let mut v: u32 = 0;
    // SAFETY: stmxcsr stores 4 bytes to the given address; SSE is on.
    unsafe { core::arch::asm!("stmxcsr [{}]", in(reg) &mut v, options(nostack)) };
    v
}

fn ascii(regs: &[u32]) -> String {
    regs.iter()
        .flat_map(|r| r.to_le_bytes())
        .filter(|&b| b != 0)
        .map(|b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '?'
            }
        })
        .collect()
}

/// Reads the time-stamp counter.
#[inline]
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC has no side effects and is allowed at CPL 0.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Stops this CPU for good: interrupts off, then halt in a loop (an NMI
/// would wake it, so loop).
pub fn halt_forever() -> ! {
    x86_64::instructions::interrupts::disable();
    loop {
        x86_64::instructions::hlt();
    }
}

/// Restarts the machine: the keyboard controller's reset line, then the
/// PCI reset control register (0xCF9), then a triple fault.
pub fn reset() -> ! {
    use x86_64::instructions::port::Port;
    x86_64::instructions::interrupts::disable();
    // SAFETY: writes to the standard reset ports of PC chipsets; each
    // either restarts the machine or is ignored.
    unsafe {
        let mut status = Port::<u8>::new(0x64);
        for _ in 0..100_000 {
            if status.read() & 0x02 == 0 {
                break;
            }
        }
        status.write(0xfe);
        for _ in 0..1_000_000 {
            core::hint::spin_loop();
        }
        Port::<u8>::new(0xcf9).write(0x02);
        Port::<u8>::new(0xcf9).write(0x06);
        for _ in 0..1_000_000 {
            core::hint::spin_loop();
        }
    }
    // SAFETY: an empty IDT makes the next interrupt a triple fault, which
    // resets the CPU; nothing runs afterwards.
    unsafe {
        let empty = x86_64::structures::DescriptorTablePointer {
            limit: 0,
            base: x86_64::VirtAddr::new(0),
        };
        x86_64::instructions::tables::lidt(&empty);
        core::arch::asm!("int3", options(noreturn));
    }
}

//! CPU feature detection without std (CPUID and XGETBV), so the kernel and
//! the host pick backends the same way.

/// The instruction-set extensions the backends care about.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuFeatures {
    pub sse2: bool,
    pub ssse3: bool,
    pub sse41: bool,
    pub avx: bool,
    pub avx2: bool,
    pub fma: bool,
    pub f16c: bool,
    pub avx512f: bool,
    pub avx512bw: bool,
    pub avx512vl: bool,
    pub avx512vnni: bool,
    pub avxvnni: bool,
}

#[cfg(target_arch = "x86_64")]
fn xgetbv0() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: only called after CPUID reported OSXSAVE, so XGETBV with
    // ECX = 0 is a valid instruction; it reads a register and touches no
    // memory.
    unsafe {
        core::arch::asm!("xgetbv", in("ecx") 0u32, out("eax") lo, out("edx") hi,
            options(nomem, nostack, preserves_flags));
    }
    ((hi as u64) << 32) | lo as u64
}

/// Detects the features of the running CPU (and whether the OS enabled the
/// AVX / AVX-512 register state).
#[cfg(target_arch = "x86_64")]
pub fn detect() -> CpuFeatures {
    use core::arch::x86_64::{__cpuid, __cpuid_count};
    let max_leaf = __cpuid(0).eax;
    let l1 = __cpuid(1);
    let bit = |r: u32, b: u32| r & (1 << b) != 0;
    let osxsave = bit(l1.ecx, 27);
    let xcr0 = if osxsave { xgetbv0() } else { 0 };
    let ymm_ok = xcr0 & 0x6 == 0x6;
    let zmm_ok = ymm_ok && xcr0 & 0xe0 == 0xe0;
    let (l7b, l7c, l7_1a) = if max_leaf >= 7 {
        let l7 = __cpuid_count(7, 0);
        let l71 = __cpuid_count(7, 1);
        (l7.ebx, l7.ecx, l71.eax)
    } else {
        (0, 0, 0)
    };
    let avx = bit(l1.ecx, 28) && ymm_ok;
    CpuFeatures {
        sse2: bit(l1.edx, 26),
        ssse3: bit(l1.ecx, 9),
        sse41: bit(l1.ecx, 19),
        avx,
        avx2: avx && bit(l7b, 5),
        fma: avx && bit(l1.ecx, 12),
        f16c: avx && bit(l1.ecx, 29),
        avx512f: zmm_ok && bit(l7b, 16),
        avx512bw: zmm_ok && bit(l7b, 30),
        avx512vl: zmm_ok && bit(l7b, 31),
        avx512vnni: zmm_ok && bit(l7c, 11),
        avxvnni: avx && bit(l7_1a, 4),
    }
}

#[cfg(not(target_arch = "x86_64"))]
pub fn detect() -> CpuFeatures {
    CpuFeatures::default()
}

#[cfg(all(test, feature = "std", target_arch = "x86_64"))]
mod tests {
    #[test]
    fn agrees_with_std_detection() {
        let f = super::detect();
        assert!(f.sse2);
        assert_eq!(f.ssse3, std::is_x86_feature_detected!("ssse3"));
        assert_eq!(f.avx, std::is_x86_feature_detected!("avx"));
        assert_eq!(f.avx2, std::is_x86_feature_detected!("avx2"));
        assert_eq!(f.fma, std::is_x86_feature_detected!("fma"));
        assert_eq!(f.f16c, std::is_x86_feature_detected!("f16c"));
        assert_eq!(f.avx512f, std::is_x86_feature_detected!("avx512f"));
        assert_eq!(f.avx512bw, std::is_x86_feature_detected!("avx512bw"));
    }
}

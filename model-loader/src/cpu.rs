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
    pub sse3: bool,
    pub sse42: bool,
    pub popcnt: bool,
    pub bmi2: bool,
    pub avx512bf16: bool,
    /// CPUID.1:ECX[31], set by hypervisors (QEMU, KVM, ...).
    pub hypervisor: bool,
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
        sse3: bit(l1.ecx, 0),
        sse42: bit(l1.ecx, 20),
        popcnt: bit(l1.ecx, 23),
        bmi2: bit(l7b, 8),
        avx512bf16: zmm_ok && bit(l7_1a, 5),
        hypervisor: bit(l1.ecx, 31),
    }
}

#[cfg(not(target_arch = "x86_64"))]
pub fn detect() -> CpuFeatures {
    CpuFeatures::default()
}

impl CpuFeatures {
    /// The names of the features present, in a fixed order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> {
        let all = [
            ("sse2", self.sse2),
            ("sse3", self.sse3),
            ("ssse3", self.ssse3),
            ("sse4.1", self.sse41),
            ("sse4.2", self.sse42),
            ("popcnt", self.popcnt),
            ("avx", self.avx),
            ("avx2", self.avx2),
            ("fma", self.fma),
            ("f16c", self.f16c),
            ("bmi2", self.bmi2),
            ("avx512f", self.avx512f),
            ("avx512bw", self.avx512bw),
            ("avx512vl", self.avx512vl),
            ("avx512vnni", self.avx512vnni),
            ("avx512bf16", self.avx512bf16),
            ("avx-vnni", self.avxvnni),
            ("hypervisor", self.hypervisor),
        ];
        all.into_iter().filter(|e| e.1).map(|e| e.0)
    }
}

impl core::fmt::Display for CpuFeatures {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (i, n) in self.names().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(n)?;
        }
        Ok(())
    }
}

/// A CPU's identity (for the kernel's `/cpu` command): vendor string
/// (`GenuineIntel`, `AuthenticAMD`, ...), brand string, family/model/
/// stepping, and its [`CpuFeatures`].
#[derive(Clone, Copy)]
pub struct CpuInfo {
    vendor: [u8; 12],
    brand: [u8; 48],
    pub family: u32,
    pub model: u32,
    pub stepping: u32,
    pub features: CpuFeatures,
}

impl CpuInfo {
    pub fn vendor(&self) -> &str {
        ascii(&self.vendor)
    }

    /// The brand string (CPUID 0x8000_0002..4), trimmed; empty if absent.
    pub fn brand(&self) -> &str {
        ascii(&self.brand).trim()
    }
}

fn ascii(b: &[u8]) -> &str {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    match core::str::from_utf8(&b[..end]) {
        Ok(s) => s,
        Err(e) => core::str::from_utf8(&b[..e.valid_up_to()]).unwrap_or(""),
    }
}

impl core::fmt::Display for CpuInfo {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let brand = if self.brand().is_empty() {
            "unknown CPU"
        } else {
            self.brand()
        };
        write!(
            f,
            "{brand} ({}, family {:#x} model {:#x} stepping {}): {}",
            self.vendor(),
            self.family,
            self.model,
            self.stepping,
            self.features
        )
    }
}

/// Vendor, brand string, family/model/stepping and features.
#[cfg(target_arch = "x86_64")]
pub fn info() -> CpuInfo {
    use core::arch::x86_64::__cpuid;
    let l0 = __cpuid(0);
    let mut vendor = [0u8; 12];
    vendor[0..4].copy_from_slice(&l0.ebx.to_le_bytes());
    vendor[4..8].copy_from_slice(&l0.edx.to_le_bytes());
    vendor[8..12].copy_from_slice(&l0.ecx.to_le_bytes());
    let eax = __cpuid(1).eax;
    let base_family = (eax >> 8) & 0xf;
    let base_model = (eax >> 4) & 0xf;
    let family = if base_family == 0xf {
        base_family + ((eax >> 20) & 0xff)
    } else {
        base_family
    };
    let model = if base_family == 0x6 || base_family == 0xf {
        base_model | (((eax >> 16) & 0xf) << 4)
    } else {
        base_model
    };
    let mut brand = [0u8; 48];
    if __cpuid(0x8000_0000).eax >= 0x8000_0004 {
        for (i, leaf) in (0x8000_0002u32..=0x8000_0004).enumerate() {
            let r = __cpuid(leaf);
            for (j, reg) in [r.eax, r.ebx, r.ecx, r.edx].iter().enumerate() {
                let o = i * 16 + j * 4;
                brand[o..o + 4].copy_from_slice(&reg.to_le_bytes());
            }
        }
    }
    CpuInfo {
        vendor,
        brand,
        family,
        model,
        stepping: eax & 0xf,
        features: detect(),
    }
}

#[cfg(not(target_arch = "x86_64"))]
pub fn info() -> CpuInfo {
    CpuInfo {
        vendor: [0; 12],
        brand: [0; 48],
        family: 0,
        model: 0,
        stepping: 0,
        features: detect(),
    }
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
        assert_eq!(f.avx512vnni, std::is_x86_feature_detected!("avx512vnni"));
        assert_eq!(f.avxvnni, std::is_x86_feature_detected!("avxvnni"));
        assert_eq!(f.sse42, std::is_x86_feature_detected!("sse4.2"));
        assert_eq!(f.bmi2, std::is_x86_feature_detected!("bmi2"));
    }

    #[test]
    fn info_has_vendor_and_features() {
        let i = super::info();
        assert_eq!(i.vendor().len(), 12, "{:?}", i.vendor());
        let s = std::format!("{i}");
        assert!(s.contains("sse2"), "{s}");
    }
}

//! The hardware side of the self-tests ([`crate::selftest`]): arithmetic
//! on the SSE and AVX units through intrinsics, and deliberate CPU
//! exceptions for `/test-fault`.

use core::hint::black_box;

/// `a * b + a` lane by lane with SSE.
pub fn sse_mul_add(a: [f32; 4], b: f32) -> [f32; 4] {
    use core::arch::x86_64::*;
    let mut out = [0f32; 4];
    // SAFETY: SSE is part of x86_64 and the kernel's target; the pointers
    // are to local arrays of 4 floats.
    unsafe {
        let va = _mm_loadu_ps(a.as_ptr());
        let r = _mm_add_ps(_mm_mul_ps(va, _mm_set1_ps(b)), va);
        _mm_storeu_ps(out.as_mut_ptr(), r);
    }
    out
}

/// `[sqrt(lo), sqrt(hi)]` with SSE2's `sqrtpd`.
pub fn sse2_sqrt(hi: f64, lo: f64) -> [f64; 2] {
    use core::arch::x86_64::*;
    let mut root = [0f64; 2];
    // SAFETY: SSE2 is part of x86_64; `root` holds 2 doubles.
    unsafe { _mm_storeu_pd(root.as_mut_ptr(), _mm_sqrt_pd(_mm_set_pd(hi, lo))) };
    root
}

/// Whether this CPU has AVX2 and FMA and the kernel enabled the AVX state.
pub fn avx2_fma_usable() -> bool {
    let cpu = super::cpu_info();
    cpu.has_avx2() && cpu.has_fma() && super::cpu::avx_enabled()
}

/// The dot product of `x` and `y` (the shorter length) with AVX2 + FMA, or
/// `None` if they are not usable.
pub fn dot_avx2(x: &[f32], y: &[f32]) -> Option<f32> {
    let n = x.len().min(y.len());
    // SAFETY: AVX2 and FMA are present and enabled (checked); both
    // slices hold at least `n` floats.
    avx2_fma_usable().then(|| unsafe { selftest_dot_avx2(x.as_ptr(), y.as_ptr(), n) })
}

/// (1, 2, 3, 4) added `iters` times in a YMM register, or `None` without
/// AVX.
pub fn avx_count(iters: u64) -> Option<[f64; 4]> {
    // SAFETY: AVX is enabled (checked).
    super::cpu::avx_enabled().then(|| unsafe { avx_count_ymm(iters) })
}

/// Dot product with AVX2 + FMA (8 lanes), scalar tail. Exported unmangled so
/// the QEMU tests can find it in the kernel ELF and check it really
/// contains YMM/FMA instructions.
///
/// # Safety
/// The CPU must have AVX2 and FMA enabled; `a` and `b` point to `n` floats.
// SAFETY: no other symbol of the kernel is named `selftest_dot_avx2`.
#[unsafe(no_mangle)]
#[inline(never)]
#[target_feature(enable = "avx2,fma")]
pub unsafe extern "C" fn selftest_dot_avx2(a: *const f32, b: *const f32, n: usize) -> f32 {
    use core::arch::x86_64::*;
    let mut acc = _mm256_setzero_ps();
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 <= n, so both loads are in bounds.
        let (va, vb) = unsafe { (_mm256_loadu_ps(a.add(i)), _mm256_loadu_ps(b.add(i))) };
        acc = _mm256_fmadd_ps(va, vb, acc);
        i += 8;
    }
    let mut lanes = [0f32; 8];
    // SAFETY: `lanes` holds 8 floats.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc) };
    let mut sum: f32 = lanes.iter().sum();
    while i < n {
        // SAFETY: i < n.
        sum += unsafe { *a.add(i) * *b.add(i) };
        i += 1;
    }
    sum
}

/// Adds (1, 2, 3, 4) to a YMM accumulator `iters` times.
///
/// # Safety
/// The CPU must have AVX enabled (CR4.OSXSAVE and XCR0's YMM bit).
#[inline(never)]
#[target_feature(enable = "avx")]
unsafe fn avx_count_ymm(iters: u64) -> [f64; 4] {
    use core::arch::x86_64::*;
    let inc = _mm256_set_pd(4.0, 3.0, 2.0, 1.0);
    let mut acc = _mm256_setzero_pd();
    for _ in 0..black_box(iters) {
        acc = _mm256_add_pd(acc, inc);
    }
    let mut out = [0f64; 4];
    // SAFETY: `out` holds 4 doubles.
    unsafe { _mm256_storeu_pd(out.as_mut_ptr(), acc) };
    out
}

/// A CPU exception `/test-fault` raises.
#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// A read of an unmapped address.
    Page,
    /// `div` by zero.
    Divide,
    /// `ud2`.
    InvalidOpcode,
    /// A read of a non-canonical address.
    GeneralProtection,
}

/// Raises `fault`. The exception handler reports it and stops the kernel,
/// so this does not return (if it does, the handler failed).
pub fn raise(fault: Fault) {
    match fault {
        // SAFETY (all arms): deliberately invalid operations; the exception
        // handler stops the kernel, so nothing runs afterwards.
        Fault::Page => unsafe {
            black_box(core::ptr::read_volatile(0x0dea_dbee_f000 as *const u64));
        },
        // SAFETY: a deliberate divide error; the handler stops the kernel.
        Fault::Divide => unsafe {
            core::arch::asm!("xor edx, edx", "xor eax, eax", "xor ecx, ecx", "div ecx", out("eax") _, out("ecx") _, out("edx") _);
        },
        // SAFETY: a deliberate invalid opcode; the handler stops the kernel.
        Fault::InvalidOpcode => unsafe { core::arch::asm!("ud2") },
        // SAFETY: a deliberate non-canonical read; the handler stops the kernel.
        Fault::GeneralProtection => unsafe {
            black_box(core::ptr::read_volatile(
                0x8000_0000_0000_0000usize as *const u64,
            ));
        },
    }
}

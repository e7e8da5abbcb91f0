//! In-kernel self-tests (`/selftest NAME`), printing one PASS/FAIL line
//! each, and deliberate faults (`/test-fault KIND`, test builds of the
//! command line only). The QEMU tests drive both.

use crate::arch::x86_64::selftest::Fault;
use crate::console::style::{paint, Style};
use crate::mm::lazy::{self, PageSource};
use crate::mm::paging::{self, Access};
use crate::mm::{heap, HUGE_PAGE_SIZE};
use crate::{arch, println, time};
use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::hint::black_box;
use core::time::Duration;

type TestResult = Result<String, String>;

/// Runs one self-test, or all of them.
pub fn run(name: &str) {
    type Test = (&'static str, fn() -> TestResult);
    let tests: [Test; 4] = [
        ("heap", heap_test),
        ("simd", simd_test),
        ("timer", timer_test),
        ("lazy", lazy_test),
    ];
    let mut failed = 0;
    let mut ran = 0;
    for (n, f) in tests {
        if name != "all" && name != n {
            continue;
        }
        ran += 1;
        match f() {
            Ok(details) => println!(
                "selftest {n}: {} ({details})",
                paint(Style::BoldGreen, "PASS")
            ),
            Err(why) => {
                failed += 1;
                println!("selftest {n}: {} ({why})", paint(Style::BoldRed, "FAIL"))
            }
        }
    }
    println!("selftest: {} passed, {failed} failed", ran - failed);
}

fn check(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(what())
    }
}

// ---------------------------------------------------------------- heap ---

fn heap_test() -> TestResult {
    // A large block, bigger than the whole initial heap: the heap must grow.
    const BIG: usize = 64 << 20;
    let pattern = |i: usize| (i.wrapping_mul(2_654_435_761) >> 13) as u8;
    let mut big: Vec<u8> = Vec::with_capacity(BIG);
    big.extend((0..BIG).map(pattern));
    check(
        big.iter().enumerate().all(|(i, &b)| b == pattern(i)),
        || "large block corrupted".into(),
    )?;
    drop(big);
    let mapped_after_big = heap::stats().mapped;

    // Many small blocks of mixed sizes; free half, reallocate, verify all.
    let mut small: Vec<Box<[u64]>> = (0..4000u64)
        .map(|i| alloc::vec![i; 1 + (i % 13) as usize].into_boxed_slice())
        .collect();
    for (i, b) in small.iter_mut().enumerate() {
        if i % 2 == 0 {
            *b = alloc::vec![i as u64 ^ 0xffff; 1 + i % 7].into_boxed_slice();
        }
    }
    for (i, b) in small.iter().enumerate() {
        let want = if i % 2 == 0 {
            i as u64 ^ 0xffff
        } else {
            i as u64
        };
        check(b.iter().all(|&x| x == want), || {
            format!("small block {i} corrupted")
        })?;
    }
    drop(small);

    // Freed memory is reused: the same large block again needs no growth.
    let again: Vec<u8> = alloc::vec![7u8; BIG];
    check(again[BIG - 1] == 7, || "second large block wrong".into())?;
    drop(again);
    let mapped = heap::stats().mapped;
    check(mapped == mapped_after_big, || {
        format!("heap grew from {mapped_after_big} to {mapped} bytes instead of reusing")
    })?;

    // Hundreds of MiB: grow the heap well past its initial size (touch one
    // byte per page rather than all of it, to stay quick under TCG).
    const HUGE: usize = 256 << 20;
    if let Err(off) = heap::check_sparse_block(HUGE, 4096) {
        return Err(format!("256 MiB block corrupted at {off:#x}"));
    }

    // Alignment up to a huge page.
    for align in [16usize, 4096, HUGE_PAGE_SIZE as usize] {
        check(heap::check_alignment(align), || {
            format!("align {align} failed")
        })?;
    }
    Ok(format!(
        "64 MiB block, 4000 small blocks, reuse without growth, 256 MiB block, alignment to 2 MiB; heap {} MiB mapped",
        heap::stats().mapped >> 20
    ))
}

// ---------------------------------------------------------------- simd ---

fn simd_test() -> TestResult {
    use arch::x86_64::selftest as hw;
    check(arch::x86_64::cpu::sse_enabled(), || {
        "SSE is not enabled".into()
    })?;
    check(arch::x86_64::cpu::mxcsr() & 0x20 != 0, || {
        "MXCSR.PE is not set".into()
    })?;

    // SSE/SSE2 on values the compiler cannot see.
    let (a, b) = (black_box([1.0f32, 2.0, 3.0, 4.0]), black_box(0.5f32));
    let out = hw::sse_mul_add(a, b);
    check(out == [1.5, 3.0, 4.5, 6.0], || {
        format!("SSE mul/add gave {out:?}")
    })?;
    let root = hw::sse2_sqrt(black_box(2.0), black_box(81.0));
    check(
        root[0] == 9.0 && (root[1] - core::f64::consts::SQRT_2).abs() < 1e-15,
        || format!("SSE2 sqrt gave {root:?}"),
    )?;
    let mut details = String::from("SSE/SSE2 arithmetic");

    if hw::avx2_fma_usable() {
        // AVX2 + FMA dot product against a scalar reference. Values are
        // small integers, so both sums are exact.
        let n = 4099;
        let x: Vec<f32> = (0..n).map(|i| (i % 17) as f32).collect();
        let y: Vec<f32> = (0..n).map(|i| (i % 5) as f32 - 2.0).collect();
        let scalar: f32 = x.iter().zip(&y).map(|(a, b)| a * b).sum();
        let vector = hw::dot_avx2(&x, &y).ok_or("AVX2/FMA vanished")?;
        check(vector == scalar, || {
            format!("AVX2/FMA dot {vector} != scalar {scalar}")
        })?;

        // YMM registers (upper halves included) keep their values while
        // timer interrupts come and go.
        let t0 = time::ticks();
        let mut total = 0u64;
        let mut acc = [0f64; 4];
        while time::ticks() < t0 + 20 {
            let iters = 200_000;
            let part = hw::avx_count(iters).ok_or("AVX vanished")?;
            for (a, p) in acc.iter_mut().zip(part) {
                *a += p;
            }
            total += iters;
        }
        let want = [1.0, 2.0, 3.0, 4.0].map(|k| k * total as f64);
        check(acc == want, || {
            format!("YMM state corrupted across interrupts: {acc:?} != {want:?}")
        })?;
        details += &format!(
            ", AVX2/FMA dot product, YMM state intact over {} timer interrupts",
            time::ticks() - t0
        );
    } else {
        details += ", AVX2/FMA not available (skipped)";
    }
    Ok(details)
}

// --------------------------------------------------------------- timer ---

fn timer_test() -> TestResult {
    let wait = Duration::from_millis(500);
    let (t0, k0) = (time::uptime(), time::ticks());
    time::sleep(wait);
    let (dt, dk) = (time::uptime() - t0, time::ticks() - k0);
    check(dt >= wait, || format!("slept {dt:?}, wanted {wait:?}"))?;
    let expected = dt.as_millis() as u64 * time::TICK_HZ / 1000;
    check(dk * 10 >= expected * 6 && dk * 10 <= expected * 14, || {
        format!("{dk} ticks in {dt:?}, expected about {expected}")
    })?;
    let (by_tsc, reference) = time::check_against_reference();
    let ratio = by_tsc.as_micros() as f64 / reference.as_micros() as f64;
    check((0.8..1.25).contains(&ratio), || {
        format!(
            "TSC measured {by_tsc:?} over {reference:?} of the {}",
            time::reference_name()
        )
    })?;
    Ok(format!(
        "{dk} ticks in {} ms at {} Hz; uptime vs {}: {ratio:.3}",
        dt.as_millis(),
        time::TICK_HZ,
        time::reference_name()
    ))
}

// ---------------------------------------------------------------- lazy ---

/// A region whose byte at offset `i` is a function of `i`.
struct Pattern;

fn pattern_byte(i: u64) -> u8 {
    (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8
}

impl PageSource for Pattern {
    fn fill(&self, offset: u64, dest: &mut [u8]) -> Result<(), &'static str> {
        for (i, b) in dest.iter_mut().enumerate() {
            *b = pattern_byte(offset + i as u64);
        }
        Ok(())
    }
}

static PATTERN: Pattern = Pattern;
static LAZY: spin::Once<&'static lazy::LazyRegion> = spin::Once::new();

fn lazy_test() -> TestResult {
    const SIZE: u64 = 8 * 1024 * 1024 + 12 * 1024;
    let region = *LAZY.call_once(|| {
        lazy::register(SIZE, HUGE_PAGE_SIZE, Access::ReadOnly, &PATTERN)
            .expect("register lazy region")
    });
    let bytes = region.as_slice();
    let before = region.faults();
    let offsets = [0, 1, 4095, HUGE_PAGE_SIZE + 17, 5 << 20, SIZE - 1];
    for &o in &offsets {
        let got = black_box(bytes[o as usize]);
        check(got == pattern_byte(o), || {
            format!("byte at offset {o:#x} is {got}")
        })?;
    }
    let served = region.faults() - before;
    // Offsets 0, 1, 4095 share the first chunk; the others are in chunks 1,
    // 2 and 4. A second run finds everything mapped.
    let expected = if before == 0 { 4 } else { 0 };
    check(served == expected, || {
        format!("{served} page faults served, expected {expected}")
    })?;
    let (_, page) = paging::translate(region.start()).ok_or("first chunk not mapped")?;
    Ok(format!(
        "{served} faults served for {} touches, mapped with {} KiB pages",
        offsets.len(),
        page / 1024
    ))
}

// -------------------------------------------------------------- faults ---

/// Raises the named fault. The kernel reports it and stops.
pub fn fault(kind: &str) {
    println!("raising {kind} on purpose");
    match kind {
        "pf" => arch::x86_64::selftest::raise(Fault::Page),
        "de" => arch::x86_64::selftest::raise(Fault::Divide),
        "ud" => arch::x86_64::selftest::raise(Fault::InvalidOpcode),
        "gp" => arch::x86_64::selftest::raise(Fault::GeneralProtection),
        "stack" => {
            black_box(recurse(black_box(0)));
        }
        "panic" => panic!("deliberate panic from /test-fault"),
        "oom" => {
            let more = crate::mm::heap::available() as usize + (1 << 30);
            black_box(alloc::vec::Vec::<u8>::with_capacity(black_box(more)));
        }
        _ => println!("unknown fault {kind}"),
    }
    println!("the {kind} fault did not stop the kernel");
}

#[allow(unconditional_recursion)]
fn recurse(n: u64) -> u64 {
    let frame = black_box([n; 64]);
    recurse(n + 1).wrapping_add(frame[black_box(3)])
}

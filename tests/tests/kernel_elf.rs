//! The kernel really contains vector code: SSE in ordinary code, and YMM/FMA
//! instructions in the AVX2 function (a soft-float target would silently
//! compile it to scalar code).

mod common;

use std::path::PathBuf;
use std::process::Command;

fn objdump() -> PathBuf {
    let sysroot = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .expect("rustc");
    let host = Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("rustc -vV");
    let host = String::from_utf8_lossy(&host.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .expect("host triple");
    let p = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim())
        .join("lib/rustlib")
        .join(host)
        .join("bin/llvm-objdump");
    assert!(
        p.is_file(),
        "{} missing: rustup component add llvm-tools",
        p.display()
    );
    p
}

fn disassemble(args: &[&str]) -> String {
    let elf = common::images().kernel_elf();
    let out = Command::new(objdump())
        .args(["-d", "--no-show-raw-insn"])
        .args(args)
        .arg(&elf)
        .output()
        .expect("llvm-objdump");
    assert!(
        out.status.success(),
        "llvm-objdump failed on {}",
        elf.display()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn avx2_function_contains_ymm_fma_code() {
    let asm = disassemble(&["--disassemble-symbols=selftest_dot_avx2"]);
    let body: Vec<&str> = asm
        .lines()
        .filter(|l| l.contains(':') && l.contains('\t'))
        .collect();
    assert!(body.len() > 5, "selftest_dot_avx2 not found:\n{asm}");
    assert!(
        asm.contains("%ymm"),
        "no YMM register use in selftest_dot_avx2:\n{asm}"
    );
    assert!(
        asm.contains("vfmadd"),
        "no FMA instruction in selftest_dot_avx2:\n{asm}"
    );
}

#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn kernel_uses_sse_registers() {
    let asm = disassemble(&[]);
    let xmm = asm.lines().filter(|l| l.contains("%xmm")).count();
    assert!(
        xmm > 100,
        "only {xmm} instructions use XMM registers: is the kernel soft-float?"
    );
}

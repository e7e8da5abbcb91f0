#!/usr/bin/env python3
"""Writes tcg_asm.rs next to this file: the inline-asm row-block kernels of
the SWAR kernels in tcg.rs (one asm statement per block of one row).

Run it after editing: python3 model-loader/src/quant/simd/tcg_asm.py
"""
import os
def f16w(H, T, C):
    # T = W(h) for the f16 in the low 16 bits of H (bits 16.. ignored)
    return [
        f"mov {{{T}:e}}, {{{H}:e}}",
        f"and {{{T}:e}}, 0x3ff",
        f"mov {{{C}:e}}, {{{H}:e}}",
        f"shr {{{C}:e}}, 10",
        f"and {{{C}:e}}, 31",
        f"lea rax, [{{{T}}} + 0x400]",
        f"cmovnz {{{T}}}, rax",
        f"mov eax, 1",
        f"cmovz {{{C}:e}}, eax",
        f"shlx {{{T}}}, {{{T}}}, {{{C}}}",
        f"mov {{{C}:e}}, {{{H}:e}}",
        f"shl {{{C}}}, 48",
        f"sar {{{C}}}, 63",
        f"xor {{{T}}}, {{{C}}}",
        f"sub {{{T}}}, {{{C}}}",
    ]

def acc_add(first_time=True):
    # acc (xmm) += rdx:rax, via s (lo) and c (hi)
    return [
        "vmovq {s}, {acc}",
        "vpextrq {c}, {acc}, 1",
        "add {s}, rax",
        "adc {c}, rdx",
        "vmovq {acc}, {s}",
        "vpinsrq {acc}, {acc}, {c}, 1",
    ]

def nib(kind):
    qs = {"q4_0": 2, "q4_1": 4, "q5_0": 6}[kind]
    L = ["movabs {c}, 0x000f000f000f000f"]
    if kind == "q5_0":
        L += ["mov {qh:e}, dword ptr [{p} + 2]",
              "movabs {mul}, 0x0000400100040010",
              "movabs {msk}, 0x0010001000100010"]
    for hh in range(2):
        acc = "s" if hh == 0 else "t"
        L.append(f"mov {{v}}, qword ptr [{{p}} + {qs + 8*hh}]")
        # words: k shift 0 (low even), 8 (low odd), 4 (high even), 12 (high odd)
        for w, (k, qbit) in enumerate([(0, 0), (8, 1), (4, 16), (12, 17)]):
            a = f"a{2*hh + w//2}"
            lane = w % 2
            L.append("mov rax, {v}")
            if k:
                L.append(f"shr rax, {k}")
            L.append("and rax, {c}")
            if kind == "q5_0":
                L += ["mov rdx, {qh}",
                      f"shr rdx, {8*hh + qbit}" ,
                      "and edx, 0x55",
                      "imul rdx, {mul}",
                      "and rdx, {msk}",
                      "or rax, rdx"]
            L.append(f"vmovq rdx, {{{a}}}" if lane == 0 else f"vpextrq rdx, {{{a}}}, 1")
            L.append("imul rax, rdx")
            if kind == "q5_0":
                # each multiply biased and shifted alone (fields up to 31)
                L += ["movabs rdx, 0x800000000000", "add rax, rdx", "sar rax, 48"]
            if hh == 0 and w == 0:
                L.append(f"mov {{{acc}}}, rax")
            elif hh == 1 and w == 0:
                L.append(f"mov {{{acc}}}, rax")
            else:
                L.append(f"add {{{acc}}}, rax")
    if kind == "q5_0":
        L += ["add {s}, {t}"]
    else:
        L += ["movabs {c}, 0x800000000000",
              "add {s}, {c}", "add {t}, {c}", "sar {s}, 48", "sar {t}, 48", "add {s}, {t}"]
    # s = dot
    if kind == "q4_1":
        L += ["mov {v:e}, dword ptr [{p}]"]
    else:
        L += ["movzx {v:e}, word ptr [{p}]",
              "vpextrq rax, {a4}, 1",
              "sub {s}, rax"]
    L += f16w("v", "t", "c")
    L += ["vmovq rax, {a4}", "imul rax, {s}", "imul {t}"] + acc_add()
    if kind == "q4_1":
        L += ["shr {v:e}, 16"] + f16w("v", "t", "c")
        L += ["vpextrq rax, {a4}, 1", "imul {t}"] + acc_add()
    return L

def q8():
    L = ["movabs {m}, 0x000000ff000000ff", "movabs {s}, 0x80000000"]
    for k in range(4):
        L += [f"mov {{v}}, qword ptr [{{p}} + {2 + 8*k}]",
              "movabs rax, 0x8080808080808080",
              "xor {v}, rax"]
        for j in range(4):
            a = f"a{2*k + j//2}"
            L.append("mov rax, {v}")
            if j:
                L.append(f"shr rax, {8*j}")
            L.append("and rax, {m}")
            L.append(f"vmovq rdx, {{{a}}}" if j % 2 == 0 else f"vpextrq rdx, {{{a}}}, 1")
            L += ["imul rax, rdx", "add {s}, rax"]
    L += ["sar {s}, 32", "vpextrq rax, {a8}, 1", "sub {s}, rax",
          "movzx {v:e}, word ptr [{p}]"]
    L += f16w("v", "t", "c")
    L += ["vmovq rax, {a8}", "imul rax, {s}", "imul {t}"] + acc_add()
    return L

def emit(name, lines, nact, extra):
    out = []
    out.append(f"#[inline(always)]\npub(super) unsafe fn {name}(p: *const u8, a: &[__m128i; {nact}], acc: &mut __m128i) {{")
    out.append("    core::arch::asm!(")
    for l in lines:
        out.append(f'        "{l}",')
    out.append("        p = in(reg) p,")
    for i in range(nact):
        out.append(f"        a{i} = in(xmm_reg) a[{i}],")
    out.append("        acc = inout(xmm_reg) *acc,")
    for r in ["v", "s", "t", "c"] + extra:
        out.append(f"        {r} = out(reg) _,")
    out.append('        out("rax") _,\n        out("rdx") _,')
    out.append("        options(readonly, nostack),")
    out.append("    );\n}\n")
    return "\n".join(out)

# Q6_K: one super-block (256 weights) of one row against 64 signed
# activation words Y (order (h, g, c, par): elements 128h + 32g + 8c + 2f +
# par) and 16 per-sub-block start values (-4K - 32 bsum). Weights stay
# unsigned (0..63) in 16-bit fields; each word's 4 products are biased by
# K = 32256 (so they land in 0..64260) and 2^47 (the lower terms) and
# shifted out alone. Returns sumi = Σ sc · Σ (q - 32) a.
K6 = 32256
def q6k():
    L = ["movabs {m4}, 0x0f0f0f0f0f0f0f0f",
         "movabs {m3}, 0x0303030303030303",
         "movabs {m16}, 0x00ff00ff00ff00ff",
         f"movabs {{bias}}, {hex(((1 << 47) + (K6 << 48)) % (1 << 64))}",
         "xor {sumi:e}, {sumi:e}"]
    for h in range(2):
        for gg in range(4):
            for cc in range(2):
                sub = 8 * h + 2 * gg + cc
                L.append(f"mov {{s}}, qword ptr [{{y}} + {8 * (64 + sub)}]")
                for c in (2 * cc, 2 * cc + 1):
                    ql = 64 * h + 32 * (gg & 1) + 8 * c
                    qh = 128 + 32 * h + 8 * c
                    L.append(f"mov {{t}}, qword ptr [{{p}} + {ql}]")
                    if gg >= 2:
                        L.append("shr {t}, 4")
                    L.append("and {t}, {m4}")
                    L.append(f"mov rax, qword ptr [{{p}} + {qh}]")
                    if gg:
                        L.append(f"shr rax, {2 * gg}")
                    L += ["and rax, {m3}", "shl rax, 4", "or {t}, rax"]
                    for par in range(2):
                        yi = ((h * 4 + gg) * 4 + c) * 2 + par
                        L.append("mov rax, {t}")
                        if par:
                            L.append("shr rax, 8")
                        L += ["and rax, {m16}",
                              f"imul rax, qword ptr [{{y}} + {8 * yi}]",
                              "add rax, {bias}", "shr rax, 48", "add {s}, rax"]
                L += [f"movsx rax, byte ptr [{{p}} + {192 + sub}]",
                      "imul rax, {s}", "add {sumi}, rax"]
    return L

def emit_q6k(name, lines):
    out = [f"#[inline(always)]\npub(super) unsafe fn {name}(p: *const u8, y: *const u64) -> i64 {{",
           "    let sumi: i64;",
           "    core::arch::asm!("]
    for l in lines:
        out.append(f'        "{l}",')
    out += ["        p = in(reg) p,",
            "        y = in(reg) y,",
            "        sumi = out(reg) sumi,"]
    for r in ["s", "t", "m4", "m3", "m16", "bias"]:
        out.append(f"        {r} = out(reg) _,")
    out += ['        out("rax") _,',
            "        options(pure, readonly, nostack),",
            "    );",
            "    sumi",
            "}\n"]
    return "\n".join(out)

HEADER = """//! Generated by `tcg_asm.py` (do not edit; run it instead): the row-block
//! kernels of the SWAR kernels in [`super::tcg`], one asm statement per
//! block of one row. Each adds one block's `sumi · W(d_a) · W(d_w)` (and
//! for Q4_1 `W(s_a) · W(m_w)`) to the i128 accumulator in `acc`;
//! `asm_q6_k` returns a Q6_K super-block's integer sum.
//!
//! # Safety
//! Every function: `p` points at a whole weight block of the
//! function's format, and `a` / `y` hold the block's activation words as
//! prepared by `tcg.rs`; the CPU has BMI2.

use core::arch::x86_64::__m128i;

"""

def source():
    src = HEADER
    src += emit("asm_q4_0", nib("q4_0"), 5, [])
    src += emit("asm_q4_1", nib("q4_1"), 5, [])
    src += emit("asm_q5_0", nib("q5_0"), 5, ["qh", "mul", "msk"])
    src += emit("asm_q8_0", q8(), 9, ["m"])
    src += emit_q6k("asm_q6_k", q6k())
    return src.rstrip() + "\n"

if __name__ == "__main__":
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tcg_asm.rs")
    with open(out, "w") as f:
        f.write(source())
    print(f"wrote {out}")

//! `cargo xtask`: the one entry point for building, running, testing and
//! benchmarking the project (matklad's xtask pattern). Each subcommand lives
//! in a module of its own.

mod args;
mod bench;
mod bench_qemu;
mod build;
mod disk;
mod eval;
mod fuzz;
mod fuzz_seeds;
mod generate;
mod image;
mod models;
mod packs;
mod run;
mod test;
mod unsafe_audit;
mod usb;
mod util;

use anyhow::{bail, Result};

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  run [--model smollm2|qwen-coder|FILE]    build everything and boot QEMU on the serial console,
      [--no-model] [--ramdisk-model]       talking to the model (default qwen-coder, packed and attached
      [--uefi] [--smp N] [--memory SIZE]   as a virtio disk; --ramdisk-model: in the boot ramdisk)
      [--accel tcg|kvm] [--cmdline TEXT]   (default 2G; TCG unless KVM measures fast; kernel cmdline
      [--ramdisk FILE] [--disk FILE]...     words: color=off, log=LEVEL, test, load=eager|lazy, backend=NAME)
      [--data FILE | --no-data]            data disk: default ~/.local/share/llm-kernel/data.img (256 MiB)
  image [--model M | --ramdisk FILE]       build the disk image (one for BIOS and UEFI) and print its path
        [--out DIR]                        (--model: the model's pack as ramdisk, for a USB stick)
  usb [DEVICE] [--model M] [--force]       write the image with model M (default qwen-coder) to a USB
                                           stick, after safety checks and a typed confirmation, and
                                           verify it; without DEVICE: list the devices it would accept
  test [--host|--qemu] [FILTER]            run every test: host unit tests and QEMU tests
  disk ls|tree|cat|get|put|rm|mkdir|check|format [--data FILE]
                                           the data disk's files, from the host (same filesystem crate)
  crashtest [--kills N]                    kill QEMU during a write loop N times (default 200) and check
                                           every acknowledged operation survived
  model fetch [smollm2|qwen-coder]         download, assemble and verify the real models
  eval agent [--model M] [--mode both|grammar|free]
             [--set FILE] [--trace]        score the model's tool calls on xtask/eval/agent.jsonl (or FILE;
                                           --trace: a failed request's tokens with their alternatives)
  generate --model M --prompt TEXT [-n N] [--temp T] [--seed S] [--ids]
                                           run the inference engine on the host
  bench                                    benchmarks, side by side with llama.cpp
  fuzz [TARGET|list|seeds] [--time S] [--runs N]
                                           run the fuzz targets (all, or one) for S seconds each
                                           (default 60) or N executions, whichever comes first
                                           (--runs alone: no time limit); print executions per target;
                                           seeds: regenerate the committed seed corpora
  unsafe [--list]                          count the `unsafe` uses per file and area (--list: each
                                           one); fail on one outside the allowed areas or without
                                           a SAFETY comment
";

fn main() {
    if let Err(e) = real_main() {
        eprintln!("xtask: error: {e:#}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        print!("{USAGE}");
        return Ok(());
    }
    let cmd = args.remove(0);
    match cmd.as_str() {
        "run" => run::main(args),
        "image" => image::main(args),
        "usb" => usb::main(args),
        "test" => test::main(args),
        "disk" => disk::main(args),
        "crashtest" => test::crashtest(args),
        "model" => models::main(args),
        "generate" => generate::main(args),
        "eval" => eval::main(args),
        "bench" => bench::main(args),
        "fuzz" => fuzz::main(args),
        "unsafe" => unsafe_audit::main(args),
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown command `{other}`\n{USAGE}"),
    }
}

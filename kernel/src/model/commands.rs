//! The model's commands (`/model`, `/stats`, `/reset`, `/temp`, `/top-p`,
//! `/seed`, `/complete`, `/bench`) and `/disks`. Their descriptions are in
//! `klib::registry::commands::model`; the registry checks the arguments.

use super::chat::{clear_interrupts, ConsoleIo};
use crate::drivers::virtio::blk;
use crate::mm::{frame, heap, lazy};
use crate::shell::registry::Handlers;
use crate::{println, time};
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use klib::registry::{Invocation, Output};
use klib::units::Bytes;
use klib::{out, outln};
use model_loader::conversation::args;

type Result = core::result::Result<(), String>;

/// The model commands' handlers.
pub static HANDLERS: Handlers = &[
    ("model", cmd_model),
    ("stats", cmd_stats),
    ("reset", cmd_reset),
    ("temp", cmd_temp),
    ("top-p", cmd_top_p),
    ("seed", cmd_seed),
    ("complete", cmd_complete),
    ("bench", cmd_bench),
    ("disks", cmd_disks),
    ("test-disk", cmd_test_disk),
];

fn error(msg: impl core::fmt::Display) {
    crate::shell::error_line(msg)
}

/// Runs `f` on the model, or says why there is none.
fn on_model(f: impl FnOnce(&mut super::Loaded) -> Result) -> Result {
    super::with(f)?
}

/// What `/model` shows of `m`.
pub fn model_text(m: &super::Loaded) -> String {
    let mut t = m.conv.model_report(&m.name);
    if !t.ends_with('\n') {
        t.push('\n');
    }
    let f = &m.facts;
    t += &format!(
        "source:   {} on the {} ({}), weights {}\n",
        f.kind,
        f.medium,
        Bytes(f.gguf_len),
        f.mode
    );
    let read = if f.bytes_read > 0 {
        format!(
            ", {} read at {:.0} MB/s",
            Bytes(f.bytes_read),
            f.bytes_read as f64 / 1e6 / f.load.as_secs_f64().max(1e-6)
        )
    } else {
        String::new()
    };
    t += &format!(
        "load:     weights {:.2} s{read}; tokenizer {:.2} s; ready {:.1} s after boot\n",
        f.load.as_secs_f64(),
        f.tokenizer.as_secs_f64(),
        f.ready_at.as_secs_f64()
    );
    if let Some(r) = m.region {
        t += &format!(
            "mapping:  {} of {} in memory, {} page faults served (2 MiB chunks)\n",
            Bytes(r.filled_bytes()),
            Bytes(r.size()),
            r.faults()
        );
    }
    t += &format!(
        "backend:  {} ({})\n",
        m.conv.backend().name,
        f.backend_choice
    );
    let fs = frame::stats();
    let hs = heap::stats();
    t += &format!(
        "memory:   {} of {} in use (heap {}), {} free\n",
        Bytes(fs.usable - fs.free),
        Bytes(fs.usable),
        Bytes(hs.used),
        Bytes(fs.free)
    );
    t
}

/// The model's report made by `now`, or, while the model answers a
/// message (its own call), the one `kept` as that message began.
fn report(
    out: &mut Output,
    now: impl FnOnce(&mut super::Loaded) -> String,
    kept: impl FnOnce(&super::AtMessageStart) -> String,
) -> Result {
    let text = match super::with(now) {
        Ok(t) => t,
        Err(busy) => super::at_message_start(kept).ok_or(busy)?,
    };
    out!(out, "{text}");
    Ok(())
}

pub fn cmd_model(_: &Invocation, out: &mut Output) -> Result {
    report(out, |m| model_text(m), |k| k.model.clone())
}

pub fn cmd_stats(_: &Invocation, out: &mut Output) -> Result {
    report(
        out,
        |m| m.conv.stats_report(),
        |k| format!("{}(as this message began)\n", k.stats),
    )
}

pub fn cmd_reset(_: &Invocation, out: &mut Output) -> Result {
    on_model(|m| {
        m.conv.reset();
        outln!(out, "conversation reset (the system prompt stays)");
        Ok(())
    })
}

/// A number argument in the text form `conversation::args` checks (the
/// host chat shares those checks).
fn number(inv: &Invocation, name: &str) -> String {
    inv.get(name).map(|v| v.to_text()).unwrap_or_default()
}

pub fn cmd_temp(inv: &Invocation, out: &mut Output) -> Result {
    let t = args::temperature(&number(inv, "t"))?;
    on_model(|m| {
        m.conv.set_temperature(t);
        outln!(
            out,
            "temperature {t}{}",
            if t == 0.0 { " (greedy)" } else { "" }
        );
        Ok(())
    })
}

pub fn cmd_top_p(inv: &Invocation, out: &mut Output) -> Result {
    let p = args::top_p(&number(inv, "p"))?;
    on_model(|m| {
        m.conv.set_top_p(p);
        outln!(out, "top-p {p}");
        Ok(())
    })
}

pub fn cmd_seed(inv: &Invocation, out: &mut Output) -> Result {
    let s = args::seed(&number(inv, "s"))?;
    on_model(|m| {
        m.conv.set_seed(s);
        outln!(out, "seed {s}");
        Ok(())
    })
}

/// `/complete [--ids] [-n N] TEXT`: streams on the console as it is
/// generated (a person-only command).
pub fn cmd_complete(inv: &Invocation, _: &mut Output) -> Result {
    let ids = inv.flag("ids");
    let n = inv
        .int("tokens")
        .map_or(args::DEFAULT_COMPLETE_TOKENS, |n| n as usize);
    let text = inv.str("text").unwrap_or_default();
    on_model(|m| {
        clear_interrupts();
        let mut io = ConsoleIo::new();
        match m.conv.complete(text, n, &mut io) {
            Ok(done) => {
                io.newline();
                if ids {
                    let list = |v: &[u32]| {
                        v.iter()
                            .map(|i| format!("{i}"))
                            .collect::<Vec<_>>()
                            .join(",")
                    };
                    println!(
                        "{{\"prompt_ids\":[{}],\"gen_ids\":[{}]}}",
                        list(&done.prompt_ids),
                        list(&done.ids)
                    );
                }
                io.dim(&format!(
                    "{}, backend {}",
                    done.stats.summary(),
                    m.conv.backend().name
                ));
            }
            Err(e) => {
                io.newline();
                return Err(format!("{e}"));
            }
        }
        Ok(())
    })
}

pub fn cmd_disks(inv: &Invocation, out: &mut Output) -> Result {
    let disks = blk::disks();
    if disks.is_empty() {
        outln!(out, "no virtio disks");
    }
    for d in disks {
        let mut flags = Vec::new();
        flags.push(if d.modern_only {
            "modern"
        } else {
            "transitional"
        });
        if d.read_only {
            flags.push("read-only");
        }
        let serial = if d.serial.is_empty() {
            String::new()
        } else {
            format!(" serial {}", d.serial)
        };
        let what = match d.failure() {
            Some(why) => format!("FAILED: {why}"),
            None => super::find::describe_disk(d),
        };
        outln!(
            out,
            "{}  {}  PCI {} ({}){serial}  {what}",
            d.name,
            Bytes(d.size),
            d.pci,
            flags.join(", ")
        );
    }
    if let Some(r) = crate::mm::ramdisk::bytes() {
        outln!(
            out,
            "ramdisk  {}  (loaded by the bootloader)",
            Bytes(r.len() as u64)
        );
    }
    if inv.str("action") == Some("bench") {
        for d in disks {
            bench_read(d);
        }
    }
    Ok(())
}

/// Reads up to 256 MiB of `d` in 2 MiB requests into one buffer.
fn bench_read(d: &blk::Disk) {
    const BUF: usize = 2 << 20;
    let total = d.size.min(256 << 20) / blk::SECTOR * blk::SECTOR;
    if total == 0 {
        return;
    }
    let Some(mut frames) = frame::Buffer::alloc(BUF) else {
        return error("no memory for the benchmark buffer");
    };
    let buf = frames.as_mut_slice();
    let t0 = time::uptime();
    let mut off = 0;
    let mut result = Ok(());
    while off < total {
        let n = (total - off).min(BUF as u64) as usize;
        if let Err(e) = d.read_at(off, &mut buf[..n], true) {
            result = Err(e);
            break;
        }
        off += n as u64;
    }
    let t = time::uptime() - t0;
    drop(frames);
    match result {
        Ok(()) => println!(
            "{}: read {} in {:.2} s: {:.0} MB/s",
            d.name,
            Bytes(total),
            t.as_secs_f64(),
            total as f64 / 1e6 / t.as_secs_f64().max(1e-6)
        ),
        Err(e) => error(format!("{}: {e}", d.name)),
    }
}

/// Test-only: writes a pattern to the first 1 MiB of the first disk that
/// holds no model, reads it back and compares.
pub fn cmd_test_disk(_: &Invocation, _: &mut Output) -> Result {
    let Some(d) = blk::disks()
        .iter()
        .find(|d| !d.read_only && super::find::describe_disk(d).starts_with("not a model"))
    else {
        return Err("no writable disk without a model".into());
    };
    let n = (1usize << 20).min(d.size as usize) / 512 * 512;
    let pattern: Vec<u8> = (0..n)
        .map(|i| (i as u32).wrapping_mul(2654435761).to_le_bytes()[3])
        .collect();
    let t0 = time::uptime();
    if let Err(e) = d.write_at(0, &pattern) {
        return Err(format!("{}: write: {e}", d.name));
    }
    let t1 = time::uptime();
    let mut back = vec![0u8; n];
    if let Err(e) = d.read_at(0, &mut back, true) {
        return Err(format!("{}: read: {e}", d.name));
    }
    let t2 = time::uptime();
    // An unaligned read through the bounce buffer too.
    let mut odd = vec![0u8; 1000];
    if let Err(e) = d.read_at(777, &mut odd, true) {
        return Err(format!("{}: unaligned read: {e}", d.name));
    }
    if back != pattern || odd[..] != pattern[777..1777] {
        return Err(format!(
            "{}: read back differs from what was written",
            d.name
        ));
    }
    println!(
        "{}: wrote and read back {} correctly (write {:.1} ms, read {:.1} ms)",
        d.name,
        Bytes(n as u64),
        (t1 - t0).as_secs_f64() * 1e3,
        (t2 - t1).as_secs_f64() * 1e3
    );
    let _ = lazy::faults_served();
    Ok(())
}

/// `/bench [P N]`: what `llm-bench` (the host rows of `cargo xtask bench`)
/// measures, here: one warm-up decode step, a prefill of P fixed
/// pseudo-random tokens in one batch, then N decode steps from an empty
/// context. Prints `RESULT` lines in llm-bench's format. `/bench profile
/// [N]` and `/bench kernels`: see [`super::profile`].
pub fn cmd_bench(inv: &Invocation, _: &mut Output) -> Result {
    let arg = inv.str("what").unwrap_or("");
    let nums: Vec<Option<usize>> = arg
        .split_whitespace()
        .map(|w| w.parse().ok().filter(|&n| (1..=512).contains(&n)))
        .collect();
    let mut words = arg.split_whitespace();
    match words.next() {
        Some("profile") => {
            let n = words.next().and_then(|w| w.parse().ok()).unwrap_or(8usize);
            return on_model(|m| {
                let backend = *m.conv.backend();
                super::profile::decode_profile(m.conv.model(), &backend, n.clamp(1, 256));
                Ok(())
            });
        }
        Some("kernels") => {
            return on_model(|m| {
                super::profile::kernels(m.conv.model());
                Ok(())
            })
        }
        _ => {}
    }
    let (p, n) = match nums[..] {
        [] => (16, 8),
        [Some(p), Some(n)] => (p, n),
        _ => return Err("usage: /bench [P N] (token counts from 1 to 512)".into()),
    };
    on_model(|m| {
        use model_loader::session::Session;
        let model = m.conv.model();
        let backend = *m.conv.backend();
        let n_vocab = model.tok_embd.n_rows as u64;
        let mut rng = model_loader::rng::Rng::new(42);
        let toks: Vec<u32> = (0..p).map(|_| rng.below(n_vocab) as u32).collect();
        let n_ctx = (p + n + 8).max(16);
        let run = || -> core::result::Result<(f64, f64), model_loader::model::ModelError> {
            let team: &'static dyn model_loader::parallel::Team = &crate::task::team::CpuTeam;
            let mut s = Session::new(model, &backend, n_ctx, 1)?;
            s.set_team(team);
            s.decode_step(toks[0])?;
            let mut s = Session::new(model, &backend, n_ctx, p)?;
            s.set_team(team);
            let t0 = time::uptime();
            s.prefill(&toks, None)?;
            let pp = p as f64 / (time::uptime() - t0).as_secs_f64().max(1e-9);
            let mut s = Session::new(model, &backend, n_ctx, 1)?;
            s.set_team(team);
            let t0 = time::uptime();
            let mut tok = toks[0];
            for i in 0..n {
                let l = s.decode_step(tok)?;
                tok = (i as u32 * 7919 + (l[0].to_bits() & 1023)) % n_vocab as u32;
            }
            let tg = n as f64 / (time::uptime() - t0).as_secs_f64().max(1e-9);
            Ok((pp, tg))
        };
        match run() {
            Ok((pp, tg)) => {
                println!(
                    "RESULT pp {p} {pp:.3} tok/s backend={} cpus={}",
                    backend.name,
                    crate::task::team::size()
                );
                println!(
                    "RESULT tg {n} {tg:.3} tok/s backend={} cpus={}",
                    backend.name,
                    crate::task::team::size()
                );
            }
            Err(e) => return Err(format!("{e}")),
        }
        Ok(())
    })
}

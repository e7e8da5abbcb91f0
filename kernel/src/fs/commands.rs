//! The file commands' handlers (`/ls`, `/cat`, `/write`, `/append`, `/rm`,
//! `/mv`, `/mkdir`, `/df`, `/cd`, `/pwd`). Their descriptions are in
//! `klib::registry::commands::files`, their logic in `kfs::Session`.

use crate::shell::registry::Handlers;
use alloc::string::{String, ToString};
use klib::registry::{Invocation, Output};
use klib::{out, outln};

type Result = core::result::Result<(), String>;

/// The file commands' handlers.
pub static HANDLERS: Handlers = &[
    ("ls", cmd_ls),
    ("cat", cmd_cat),
    ("write", cmd_write),
    ("append", cmd_append),
    ("rm", cmd_rm),
    ("mv", cmd_mv),
    ("mkdir", cmd_mkdir),
    ("df", cmd_df),
    ("cd", cmd_cd),
    ("pwd", cmd_pwd),
    ("test-fs-loop", cmd_test_fs_loop),
    ("test-fs-bench", cmd_test_fs_bench),
];

/// Runs a `kfs::Session` operation and prints its text.
fn run(
    out: &mut Output,
    f: impl FnOnce(&mut super::Mounted) -> core::result::Result<String, kfs::FsError>,
) -> Result {
    let text = super::with(f)?.map_err(message)?;
    if !text.is_empty() {
        outln!(out, "{text}");
    }
    Ok(())
}

/// A filesystem error's line; running out of memory says how much is free.
fn message(e: kfs::FsError) -> String {
    match e {
        kfs::FsError::OutOfMemory(n) => crate::mm::heap::OutOfMemory::of(n).to_string(),
        e => e.to_string(),
    }
}

fn arg<'a>(inv: &'a Invocation, name: &str) -> &'a str {
    inv.str(name).unwrap_or_default()
}

fn cmd_ls(inv: &Invocation, out: &mut Output) -> Result {
    run(out, |m| m.session.ls(&mut m.fs, inv.str("path")))
}

fn cmd_cat(inv: &Invocation, out: &mut Output) -> Result {
    let cat = super::with(|m| m.session.cat(&mut m.fs, arg(inv, "path")))?.map_err(message)?;
    out!(out, "{}", cat.text);
    if !cat.text.is_empty() && !cat.text.ends_with('\n') {
        outln!(out);
    }
    if let Some(note) = cat.note {
        outln!(out, "[{note}]");
    }
    Ok(())
}

fn cmd_write(inv: &Invocation, out: &mut Output) -> Result {
    run(out, |m| {
        m.session
            .write(&mut m.fs, arg(inv, "path"), arg(inv, "text"))
    })
}

fn cmd_append(inv: &Invocation, out: &mut Output) -> Result {
    run(out, |m| {
        m.session
            .append(&mut m.fs, arg(inv, "path"), arg(inv, "text"))
    })
}

fn cmd_rm(inv: &Invocation, out: &mut Output) -> Result {
    run(out, |m| {
        m.session
            .rm(&mut m.fs, arg(inv, "path"), inv.flag("recursive"))
    })
}

fn cmd_mv(inv: &Invocation, out: &mut Output) -> Result {
    run(out, |m| {
        m.session.mv(&mut m.fs, arg(inv, "from"), arg(inv, "to"))
    })
}

fn cmd_mkdir(inv: &Invocation, out: &mut Output) -> Result {
    run(out, |m| m.session.mkdir(&mut m.fs, arg(inv, "path")))
}

fn cmd_df(_: &Invocation, out: &mut Output) -> Result {
    run(out, |m| {
        let location = m.location.clone();
        m.session.df(&mut m.fs, &location)
    })
}

fn cmd_cd(inv: &Invocation, out: &mut Output) -> Result {
    run(out, |m| {
        m.session
            .cd(&mut m.fs, inv.str("path"))
            .map(|_| String::new())
    })
}

fn cmd_pwd(_: &Invocation, out: &mut Output) -> Result {
    run(out, |m| Ok(m.session.pwd()))
}

/// The crash test's write loop: prints `fs-ack N` once operation N is on
/// the disk (committed and flushed), then `fs-loop done`.
fn cmd_test_fs_loop(inv: &Invocation, out: &mut Output) -> Result {
    let start = inv.int("start").unwrap_or(1);
    let count = inv.int("count").unwrap_or(1);
    super::with(|m| {
        if !m
            .fs
            .exists(kfs::crashloop::DIR)
            .map_err(|e| e.to_string())?
        {
            return Err(alloc::format!("{} is missing", kfs::crashloop::DIR));
        }
        for n in start..start.saturating_add(count) {
            kfs::crashloop::apply(&mut m.fs, n)
                .map_err(|e| alloc::format!("operation {n}: {e}"))?;
            outln!(out, "fs-ack {n}");
        }
        outln!(out, "fs-loop done");
        Ok(())
    })?
}

/// Times writing and reading back a file of `kib` KiB (its bytes checked).
fn cmd_test_fs_bench(inv: &Invocation, out: &mut Output) -> Result {
    const PATH: &str = "/fs-bench.bin";
    let len = inv.int("kib").unwrap_or(1024) as usize * 1024;
    // The size is typed: a machine without that much memory says so.
    let mut data = crate::mm::heap::try_vec(len).map_err(|e| e.to_string())?;
    data.extend((0..len).map(|i| (i * 31 + i / 4096) as u8));
    super::with(|m| {
        let e = message;
        let t0 = crate::time::uptime();
        m.fs.write(PATH, &data).map_err(e)?;
        let t1 = crate::time::uptime();
        let back = m.fs.read_all(PATH).map_err(e)?;
        let t2 = crate::time::uptime();
        m.fs.remove(PATH, false).map_err(e)?;
        if back != data {
            return Err(String::from(
                "the bytes read back differ from those written",
            ));
        }
        let rate = |d: core::time::Duration| len as f64 / 1048576.0 / d.as_secs_f64().max(1e-9);
        outln!(
            out,
            "fs-bench: {} KiB written in {} ms ({:.2} MiB/s), read in {} ms ({:.2} MiB/s)",
            len / 1024,
            (t1 - t0).as_millis(),
            rate(t1 - t0),
            (t2 - t1).as_millis(),
            rate(t2 - t1)
        );
        Ok(())
    })?
}

//! Background model requests (`/bg TEXT`): the system prompt and TEXT as
//! one user turn, answered greedily in a task of its own ("bg") while the
//! conversation goes on.
//!
//! The request is `model_loader::conversation::Request`: its own session
//! and KV cache (the weights are shared, read-only), sized for the system
//! prefix, the message and the answer's cap, with the prefix's cache
//! copied from the conversation's (never computed again). It is created by
//! the command, on the caller, so that running out of memory is the
//! command's error ("out of memory: needs N, M free"); the task only
//! drives it.
//!
//! Priority, the simplest correct scheme: the task does its work one step
//! at a time (one prefill batch of the message, or one answer token), each
//! step under the model's turn as [`Turn::Background`]. Such a turn is
//! never taken while the console (or a job) waits for the model, and a
//! step in progress gives way as soon as one does: the forward pass asks
//! before every layer (`Session::set_stop`) and stops, leaving the request
//! as it was before the step, to be done again later. So:
//! - a message typed at the prompt waits at most one layer of a background
//!   step (milliseconds natively, tens of ms under TCG) before its prefill
//!   starts; while the reply streams, the request gets one step after
//!   every four of its tokens (`shell::lend_turn`), so the two interleave
//!   token by token and the reply keeps four fifths of the steps;
//! - between console replies, the request runs whenever the model is
//!   free, token by token; the console task (weight 16) still preempts it
//!   for typing and commands that do not need the model.
//!
//! The task checks its kill flag before every step and while it waits for
//! the turn, and its forward passes check it before every layer, so
//! `/kill tN` stops it within one layer's time; the request and its KV
//! cache are freed as the task ends. When the answer is complete it is
//! written to `/bg/N.txt` (N: the task's number; on the data disk, or on
//! the RAM disk without one) and `bg tN done: ...` is printed above the
//! prompt. One request runs at a time.

use super::sched;
use crate::console::style::{paint, Style};
use crate::shell::{model_turn, Turn};
use crate::time;
use alloc::format;
use alloc::string::{String, ToString};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use klib::units::Bytes;
use model_loader::conversation::{ConvError, Request, Stop};
use model_loader::model::ModelError;

/// The directory the answers are written to.
pub const DIR: &str = "/bg";
/// Memory left free after a request's session is allocated (for the
/// conversation's and the commands' own allocations).
const KEEP_FREE: u64 = 16 << 20;
/// How much of the answer's first line `bg tN done:` shows.
const SHOWN_CHARS: usize = 200;

/// The running request's task (0: none; [`RESERVED`]: being created).
static RUNNING: AtomicU32 = AtomicU32::new(0);
const RESERVED: u32 = u32::MAX;
/// Bytes of the running request's KV cache (for `/ps`).
static KV_BYTES: AtomicU64 = AtomicU64::new(0);

/// The KV-cache bytes of task `id` if it is the background request.
pub fn kv_bytes_of(id: u32) -> Option<u64> {
    (RUNNING.load(Ordering::Acquire) == id).then(|| KV_BYTES.load(Ordering::Relaxed))
}

/// What the command reports once the request runs.
pub struct Started {
    pub task: u32,
    pub prompt_tokens: usize,
    pub max_tokens: usize,
    pub kv_bytes: u64,
}

/// The message's prefill batch, i.e. the most tokens one step computes (a
/// step abandoned for the console is lost work, so steps are small): one
/// under QEMU's TCG (a `tcg` backend), where a token takes about half a
/// second with SmolLM2 and a batch of 4 about 3 s; 8 natively, where that
/// is a few milliseconds.
fn step_batch(backend: &model_loader::quant::Backend) -> usize {
    if backend.name.starts_with("tcg") {
        1
    } else {
        8
    }
}

/// A model error as a line; running out of memory says what is free.
fn model_error(e: ConvError) -> String {
    match e {
        ConvError::Model(ModelError::OutOfMemory { bytes }) => {
            crate::mm::heap::OutOfMemory::of(bytes as u64).to_string()
        }
        e => e.to_string(),
    }
}

/// Starts a background request for `text` with an answer of at most
/// `max_tokens` tokens.
pub fn start(text: &str, max_tokens: usize) -> Result<Started, String> {
    if text.trim().is_empty() {
        return Err(String::from("/bg needs a message to answer"));
    }
    if let Err(cur) = RUNNING.compare_exchange(0, RESERVED, Ordering::AcqRel, Ordering::Acquire) {
        return Err(if cur == RESERVED {
            String::from("a background request is being started; one runs at a time")
        } else {
            format!(
                "a background request is already running (t{cur}); one runs at a time: wait for it, or /kill t{cur}"
            )
        });
    }
    let r = create_and_spawn(text, max_tokens);
    if r.is_err() {
        RUNNING.store(0, Ordering::Release);
    }
    r
}

fn create_and_spawn(text: &str, max_tokens: usize) -> Result<Started, String> {
    // The conversation is read (its prefix's cache copied) under the
    // model's turn, as any model command.
    let who = if sched::on_console() {
        Turn::Console
    } else {
        Turn::Job
    };
    let req = model_turn(who, || {
        crate::model::with(|m| {
            let batch = step_batch(m.conv.backend());
            Request::new(&m.conv, text, max_tokens, batch)
        })
    })
    .ok_or_else(|| String::from("killed while waiting for the model"))??
    .map_err(model_error)?;
    let free = crate::mm::heap::available();
    if free < KEEP_FREE {
        let need = req.kv_bytes() as u64 + KEEP_FREE;
        drop(req);
        return Err(format!(
            "out of memory: needs {}, {} free (a background request leaves {} for the rest)",
            Bytes(need),
            Bytes(crate::mm::heap::available()),
            Bytes(KEEP_FREE)
        ));
    }
    let started = Started {
        task: 0,
        prompt_tokens: req.prompt_tokens(),
        max_tokens: req.max_tokens(),
        kv_bytes: req.kv_bytes() as u64,
    };
    KV_BYTES.store(started.kv_bytes, Ordering::Relaxed);
    // On the boot CPU: its steps use the whole compute team.
    let task = sched::spawn_on(0, "bg", move || run(req))?;
    // The task may already have ended (and cleared RUNNING): then this
    // does nothing.
    let _ = RUNNING.compare_exchange(RESERVED, task, Ordering::AcqRel, Ordering::Acquire);
    Ok(Started { task, ..started })
}

/// Whether the step in progress should stop at the next layer: the task
/// was killed, or the console (or a job) waits for the model.
fn give_way() -> bool {
    sched::killed() || crate::shell::turn_wanted()
}

enum End {
    Done(Stop),
    Killed,
    Failed(String),
}

/// The task: steps the request to its end (or a kill), then reports.
fn run(mut req: Request<'static, 'static>) {
    let me = sched::current_id();
    // A kill, or the console wanting the model, stops the step in
    // progress at its next layer.
    req.set_stop(give_way);
    let t0 = time::uptime();
    let end = loop {
        if sched::killed() {
            break End::Killed;
        }
        match model_turn(Turn::Background, || req.step()) {
            None => break End::Killed,
            Some(Ok(Some(stop))) => break End::Done(stop),
            Some(Ok(None)) => {}
            // Stopped for the console (the step changed nothing and is
            // done again later), or killed (seen at the top).
            Some(Err(ConvError::Model(ModelError::Cancelled))) => {}
            Some(Err(e)) => break End::Failed(model_error(e)),
        }
    };
    let secs = (time::uptime() - t0).as_secs_f64();
    let tokens = req.tokens().len();
    let kv = req.kv_bytes() as u64;
    let answer = String::from(req.answer());
    // Free the session and its KV cache before anything else.
    drop(req);
    KV_BYTES.store(0, Ordering::Relaxed);
    let line = match end {
        End::Done(stop) => done(me, &answer, stop, tokens, secs),
        End::Killed => format!(
            "{} stopped by /kill after {tokens} tokens ({secs:.1} s); its KV cache ({}) was freed\n",
            paint(Style::Yellow, format!("bg t{me}")),
            Bytes(kv)
        ),
        End::Failed(why) => format!(
            "{} failed after {tokens} tokens: {why}\n",
            paint(Style::Red, format!("bg t{me}"))
        ),
    };
    RUNNING.store(0, Ordering::Release);
    crate::console::print_above(&line);
}

/// Writes the answer to its file; the lines to print.
fn done(me: u32, answer: &str, stop: Stop, tokens: usize, secs: f64) -> String {
    let path = format!("{DIR}/{me}.txt");
    let written = crate::fs::with(|m| -> Result<(), kfs::FsError> {
        if !m.fs.exists(DIR)? {
            m.fs.mkdir(DIR)?;
        }
        m.fs.write(&path, answer.as_bytes())
    })
    .and_then(|r| r.map_err(|e| e.to_string()));
    let first = answer.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let mut shown: String = first.chars().take(SHOWN_CHARS).collect();
    if first.chars().count() > SHOWN_CHARS || answer.trim() != first.trim() {
        shown.push('…');
    }
    if answer.trim().is_empty() {
        shown = String::from("(an empty answer)");
    }
    let why = match stop {
        Stop::Limit => " (cut at its cap)",
        Stop::ContextFull => " (context full)",
        _ => "",
    };
    let place = match written {
        Ok(()) => format!("the whole answer is in {path}"),
        Err(e) => format!("{path} could not be written: {e}"),
    };
    format!(
        "{} {shown}\n{}\n",
        paint(Style::BoldGreen, format!("bg t{me} done:")),
        paint(
            Style::Dim,
            format!("[{tokens} tokens{why} in {secs:.1} s; {place}]")
        )
    )
}

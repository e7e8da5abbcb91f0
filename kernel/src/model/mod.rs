//! The model inside the kernel: finding the image ([`find`]), mapping its
//! weights into kernel memory backed by the disk ([`source`]), loading the
//! engine (`model_loader`) on the mapped tensors without copying them, and
//! the conversation on the console ([`chat`], [`commands`]).
//!
//! Boot flow ([`boot`]): find the image → check the pack header and the
//! GGUF (`support::check`) → map the weights (a lazily-backed region for a
//! disk, the bootloader's memory for the ramdisk) → check that weights,
//! KV cache and work buffers fit in free memory → preload (eager mode,
//! with a progress bar) → build the model and tokenizer → time the
//! backends and pick the fastest → start the conversation with the pack's
//! precomputed system-prompt cache. A failure at any step prints what went
//! wrong and leaves the console working for direct commands.

pub mod chat;
pub mod commands;
pub mod find;
pub mod profile;
pub mod source;

use crate::console::style::{paint, Style};
use crate::mm::lazy::{self, LazyRegion};
use crate::mm::{frame, paging::Access, HUGE_PAGE_SIZE};
use crate::{console, print, println, time};
use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::time::Duration;
use find::{Medium, Search};
use klib::cmdline::{BootOptions, LoadMode};
use klib::registry::REGISTRY;
use klib::units::Bytes;
use model_loader::agent::{self, Agent, ToolFormat};
use model_loader::conversation::{self, Conversation, Options, PrefixSource};
use model_loader::gguf::Gguf;
use model_loader::hparams::HParams;
use model_loader::kv::KvCache;
use model_loader::model::Model;
use model_loader::pack::Prefix;
use model_loader::quant::{self, Backend};
use model_loader::tokenizer::Tokenizer;
use spin::Mutex;

/// Chunk of the weight region filled per page fault (2 MiB: huge pages).
const CHUNK: u64 = HUGE_PAGE_SIZE;
/// Chunks read ahead after a fault in lazy mode.
const READAHEAD: u32 = 3;
/// Memory kept free beyond the estimate (tokenizer tables, heap slack).
const MARGIN: u64 = 48 << 20;
/// The conversation's context length (at most the model's own).
pub const N_CTX: usize = 4096;

/// How the weights were brought in, for `/model`.
pub struct LoadFacts {
    pub medium: String,
    pub kind: &'static str,
    pub mode: &'static str,
    pub gguf_len: u64,
    /// Time to map and (eagerly) read the weights, and the bytes read.
    pub load: Duration,
    pub bytes_read: u64,
    pub tokenizer: Duration,
    pub backend_choice: String,
    pub ready_at: Duration,
}

/// The loaded model and its conversation.
pub struct Loaded {
    pub name: String,
    pub conv: Conversation<'static, 'static>,
    /// The model's tools: grammar, format, the last reply's trace.
    pub agent: Agent,
    pub region: Option<&'static LazyRegion>,
    pub facts: LoadFacts,
}

static MODEL: Mutex<Option<Loaded>> = Mutex::new(None);
/// Why no model is loaded (for messages).
static MISSING: Mutex<Option<String>> = Mutex::new(None);

/// Runs `f` on the loaded model, or returns why there is none.
///
/// While the model is answering (its own calls run inside), this says so
/// instead of waiting for itself.
pub fn with<R>(f: impl FnOnce(&mut Loaded) -> R) -> Result<R, String> {
    let Some(mut guard) = MODEL.try_lock() else {
        return Err(String::from(
            "the model is busy answering (this command cannot run from the model's own call)",
        ));
    };
    match guard.as_mut() {
        Some(m) => Ok(f(m)),
        None => Err(MISSING
            .lock()
            .clone()
            .unwrap_or_else(|| String::from("no model is loaded"))),
    }
}

/// What `/model` and `/stats` said as the message being answered began:
/// the model's own calls of them (and a job's, meanwhile) read these,
/// since the model itself is busy ([`answering`]).
pub struct AtMessageStart {
    pub model: String,
    pub stats: String,
}

static AT_MESSAGE_START: Mutex<Option<AtMessageStart>> = Mutex::new(None);

/// Runs `f` (the agent's handling of one message) with the `/model` and
/// `/stats` reports of `m` kept for the calls made meanwhile.
pub fn answering<R>(m: &mut Loaded, f: impl FnOnce(&mut Loaded) -> R) -> R {
    *AT_MESSAGE_START.lock() = Some(AtMessageStart {
        model: commands::model_text(m),
        stats: m.conv.stats_report(),
    });
    let r = f(m);
    *AT_MESSAGE_START.lock() = None;
    r
}

/// What `pick` takes of the reports kept as the current message began,
/// if the model is answering one.
pub fn at_message_start(pick: impl FnOnce(&AtMessageStart) -> String) -> Option<String> {
    AT_MESSAGE_START.lock().as_ref().map(pick)
}

fn say(args: core::fmt::Arguments) {
    println!("{} {args}", paint(Style::Cyan, "model:"));
}

macro_rules! say {
    ($($arg:tt)*) => (say(format_args!($($arg)*)));
}

/// Finds and loads the model at boot.
pub fn boot(opts: &BootOptions) {
    if !opts.model {
        *MISSING.lock() = Some(String::from(
            "no model: the kernel was booted with model=off",
        ));
        say!("not looking for a model (model=off)");
        return;
    }
    match load(opts) {
        Ok(loaded) => {
            say!(
                "ready: {} ({:.1} s since boot). Type a message, or /help for commands.",
                loaded.name,
                loaded.facts.ready_at.as_secs_f64()
            );
            *MODEL.lock() = Some(loaded);
        }
        Err(why) => {
            println!("{} {why}", paint(Style::BoldRed, "model: error:"));
            println!(
                "The console works without a model: /help lists the commands, /disks the disks."
            );
            *MISSING.lock() = Some(format!("no model is loaded: {why}"));
        }
    }
}

fn load(opts: &BootOptions) -> Result<Loaded, String> {
    let t_start = time::uptime();
    let image = match find::search() {
        Search::Found(i) => i,
        Search::Nothing { looked } => {
            let mut why = String::from("no model found");
            if looked.is_empty() {
                why += ": there is no virtio disk and no boot ramdisk";
            } else {
                why += &format!(" (looked at {})", looked.join("; "));
            }
            why += ". Attach one: cargo xtask run --model smollm2|qwen-coder|FILE.gguf";
            return Err(why);
        }
        Search::Damaged { what, why } => return Err(format!("{what}: {why}")),
    };
    let medium_name = image.medium.describe();
    say!(
        "found a {}{} on the {medium_name}: GGUF {} at offset {}",
        image.kind(),
        image
            .pack_name()
            .map(|n| format!(" `{n}`"))
            .unwrap_or_default(),
        Bytes(image.gguf_len),
        Bytes(image.gguf_offset)
    );

    // Map the weights.
    let (bytes, region): (&'static [u8], Option<&'static LazyRegion>) = match image.medium {
        Medium::Disk(disk) => {
            let src: &'static source::DiskSource = Box::leak(Box::new(source::DiskSource {
                disk,
                base: image.gguf_offset,
            }));
            let region = lazy::register(image.gguf_len, CHUNK, Access::ReadOnly, src)
                .map_err(|e| format!("could not reserve memory for the weights ({e:?})"))?;
            region.set_readahead(READAHEAD);
            (region.as_slice(), Some(region))
        }
        Medium::Ramdisk(r) => {
            let r = crate::mm::ramdisk::direct_view(r);
            let start = image.gguf_offset as usize;
            (&r[start..start + image.gguf_len as usize], None)
        }
    };

    // Check the file before committing memory to it.
    let gguf =
        Gguf::parse(bytes).map_err(|e| format!("the GGUF on the {medium_name} is damaged: {e}"))?;
    let problems = model_loader::support::check(&gguf);
    if !problems.is_empty() {
        let mut why = format!("the model on the {medium_name} cannot run here:");
        for p in &problems {
            why += &format!("\n  - {p}");
        }
        return Err(why);
    }
    let hp = HParams::from_gguf(&gguf).map_err(|e| format!("hyperparameters: {e}"))?;
    let n_ctx = N_CTX.min(hp.n_ctx_train);
    let name = match image.pack_name() {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => gguf
            .get_str("general.name")
            .ok()
            .flatten()
            .unwrap_or("model")
            .to_string(),
    };
    check_memory(
        &name,
        &hp,
        n_ctx,
        region.map_or(0, |r| r.size() - r.filled_bytes()),
    )?;

    // Bring the weights in.
    let t_load = time::uptime();
    let mut bytes_read = 0;
    let mode = match (region, opts.load) {
        (None, _) => "in memory (boot ramdisk)",
        (Some(r), LoadMode::Eager) => {
            let before = r.filled_bytes();
            let complete = preload(r, &name)?;
            bytes_read = r.filled_bytes() - before;
            if complete {
                "eager (read at boot)"
            } else {
                "eager, interrupted (the rest is read on first use)"
            }
        }
        (Some(_), LoadMode::Lazy) => "lazy (read on first touch)",
    };
    let model = Model::from_gguf(&gguf).map_err(|e| format!("loading the model: {e}"))?;
    let load_time = time::uptime() - t_load;
    let model: &'static Model<'static> = Box::leak(Box::new(model));

    let t_tok = time::uptime();
    print!(
        "{} building the tokenizer... ",
        paint(Style::Cyan, "model:")
    );
    let tokenizer = Tokenizer::from_gguf(&gguf).map_err(|e| {
        println!();
        format!("tokenizer: {e}")
    })?;
    let tok_time = time::uptime() - t_tok;
    println!("{} ({:.1} s)", tokenizer.describe(), tok_time.as_secs_f64());
    let tokenizer: &'static Tokenizer = Box::leak(Box::new(tokenizer));

    let (backend, backend_choice) = pick_backend(model, opts.backend.as_deref());
    let backend_choice = format!("{backend_choice}; prefill batch {}", prefill_batch(backend));
    say!("backend {}: {backend_choice}", backend.name);

    let (template, notice) = conversation::template_for(&gguf);
    if let Some(n) = notice {
        say!("{n}");
    }
    let prefix_bytes = match image.read_prefix() {
        Ok(p) => p,
        Err(e) => {
            say!("the pack's system-prompt cache could not be read ({e}); computing it");
            None
        }
    };
    let prefix = match prefix_bytes.as_deref().map(Prefix::parse) {
        Some(Ok(p)) => Some(p),
        Some(Err(e)) => {
            say!("{e}; the system prompt will be computed");
            None
        }
        None => None,
    };
    // The system prompt carries the registry's commands as the model's
    // tools, in the model's own format; the pack's precomputed cache is
    // used only if it was computed for exactly this text (else it is
    // recomputed, with a progress bar).
    let format = ToolFormat::from_gguf(&gguf);
    let opts = Options {
        n_ctx,
        max_batch: prefill_batch(backend),
        team: &crate::task::team::CpuTeam,
        system_prompt: agent::registry_system_prompt(format),
        ..Options::default()
    };
    let t_grammar = time::uptime();
    let mut agent = Agent::new(&REGISTRY, tokenizer, format);
    say!(
        "tools: {} commands offered ({} format), call grammar of {} states built in {:.1} s",
        REGISTRY.for_model().count(),
        format.name(),
        agent.grammar.dfa.n_states(),
        (time::uptime() - t_grammar).as_secs_f64()
    );
    let mut io = chat::ConsoleIo::new();
    io.cancellable = false;
    if prefix.is_none() {
        say!("computing the system prompt's cache (no precomputed one in the image)");
    }
    let mut conv = Conversation::new(
        model,
        tokenizer,
        template,
        backend,
        opts,
        prefix.as_ref(),
        &mut io,
    )
    .map_err(|e| format!("starting the conversation: {e}"))?;
    io.end_progress();
    // How likely each command's name is after a message that asks for
    // nothing: a call the person's message does not make clearly more
    // likely than that is not made (see `agent::decode`).
    // The pack carries it when it was computed for this very prompt.
    let packed_prior = match (conv.prefix_source(), &prefix) {
        (PrefixSource::Restored { .. }, Some(p)) => p.prior_logprobs(model.hparams.n_vocab),
        _ => None,
    };
    let t_prior = time::uptime();
    if let Some(prior) = packed_prior {
        agent.grammar.prior = Some(prior);
        say!("tools: name prior from the pack");
    } else {
        match agent.calibrate(&mut conv, &mut io) {
            Ok(true) => say!(
                "tools: name prior measured in {:.1} s",
                (time::uptime() - t_prior).as_secs_f64()
            ),
            Ok(false) => {}
            Err(e) => say!("tools: no name prior ({e}); calls are chosen by probability alone"),
        }
    }
    let _ = t_start;
    Ok(Loaded {
        name,
        conv,
        agent,
        region,
        facts: LoadFacts {
            medium: medium_name,
            kind: image.kind(),
            mode,
            gguf_len: image.gguf_len,
            load: load_time,
            bytes_read,
            tokenizer: tok_time,
            backend_choice,
            ready_at: time::uptime(),
        },
    })
}

/// Memory the model needs beyond the weights still to be read: KV cache,
/// two sessions' work buffers (conversation and `/complete`), margin.
fn working_memory(hp: &HParams, n_ctx: usize) -> (u64, u64) {
    let kv = KvCache::bytes_needed(hp.n_layer, hp.n_head_kv, hp.head_dim, n_ctx) as u64;
    let b = conversation::COMPLETE_BATCH.max(Options::default().max_batch) as u64;
    let per_token = (3 * hp.n_embd + 2 * hp.n_embd_q() + 2 * hp.n_embd_kv() + 2 * hp.n_ff) as u64;
    let scratch = 4 * (b * per_token + hp.n_vocab as u64 + n_ctx as u64)
        + b * hp.n_ff.max(hp.n_embd) as u64 * 2;
    (kv, 2 * scratch)
}

fn check_memory(
    name: &str,
    hp: &HParams,
    n_ctx: usize,
    weights_to_read: u64,
) -> Result<(), String> {
    let (kv, scratch) = working_memory(hp, n_ctx);
    let need = weights_to_read + kv + scratch + MARGIN;
    let free = frame::stats().free;
    if need > free {
        return Err(format!(
            "{name} does not fit in memory: it needs about {} (weights {}, KV cache {} for {n_ctx} positions, work buffers {}, margin {}) but only {} is free. Give the machine more memory (cargo xtask run --memory 2G).",
            Bytes(need),
            Bytes(weights_to_read),
            Bytes(kv),
            Bytes(scratch),
            Bytes(MARGIN),
            Bytes(free)
        ));
    }
    Ok(())
}

/// Reads the whole region with a progress bar; Ctrl-C stops early.
/// Returns whether everything was read.
fn preload(region: &'static LazyRegion, name: &str) -> Result<bool, String> {
    let t0 = time::uptime();
    let mut last = Duration::ZERO;
    let mut interrupted = false;
    let bar = |done: u64, total: u64, t: Duration| {
        const WIDTH: u64 = 30;
        let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH);
        let mut s = String::new();
        for i in 0..WIDTH {
            s.push(if i < filled { '#' } else { '.' });
        }
        let mbps = done as f64 / 1e6 / t.as_secs_f64().max(1e-6);
        print!(
            "\r{} loading {name} [{s}] {:.1}/{:.1} MiB {:3}% {:.0} MB/s ",
            paint(Style::Cyan, "model:"),
            done as f64 / (1u64 << 20) as f64,
            total as f64 / (1u64 << 20) as f64,
            (done * 100).checked_div(total).unwrap_or(100),
            mbps
        );
    };
    let result = region.populate(|done, total| {
        let t = time::uptime() - t0;
        if t - last >= Duration::from_millis(250) || done == total {
            bar(done, total, t);
            last = t;
        }
        if console::interrupted() {
            interrupted = true;
            return false;
        }
        true
    });
    println!();
    match result {
        Ok(complete) => {
            let t = time::uptime() - t0;
            if interrupted {
                say!(
                    "preload interrupted by Ctrl-C: the rest of the weights are read on first use"
                );
            } else {
                say!(
                    "weights read in {:.2} s ({:.0} MB/s)",
                    t.as_secs_f64(),
                    region.size() as f64 / 1e6 / t.as_secs_f64().max(1e-6)
                );
            }
            Ok(complete)
        }
        Err(e) => Err(format!("reading the weights failed: {e}")),
    }
}

/// The conversation's prefill batch. Natively, big batches amortise the
/// weight reads (64, as on the host). Under QEMU's TCG (which is when the
/// timing picks a `tcg` backend) the opposite holds: measured with SmolLM2,
/// prefill runs at 1.2 tok/s in batches of 4 but 0.7 tok/s in batches of 64
/// (the emulator's software TLB and caches thrash), so small batches.
fn prefill_batch(backend: &Backend) -> usize {
    if backend.name.starts_with("tcg") {
        4
    } else {
        Options::default().max_batch
    }
}

/// The model's matrix weights per type: (type, elements).
fn weight_mix(model: &Model<'_>) -> Vec<(quant::GgmlType, u64)> {
    let mut mix: Vec<(quant::GgmlType, u64)> = Vec::new();
    let mut add = |t, n: usize| match mix.iter_mut().find(|e| e.0 == t) {
        Some(e) => e.1 += n as u64,
        None => mix.push((t, n as u64)),
    };
    // The embedding table is only read a row at a time; the output matrix
    // (often the same tensor) is a full product per token.
    add(model.output.ty, model.output.n_rows * model.output.n_cols);
    for (_, m) in model.matrices() {
        add(m.ty, m.n_rows * m.n_cols);
    }
    mix.retain(|(t, _)| model_loader::quant::SUPPORTED_WEIGHT_TYPES.contains(t));
    mix
}

/// One timing of each available backend: the estimated matrix time of one
/// token of this model (each weight type's kernel timed on a synthetic
/// 64 x 1024 matrix, weighted by how many weights of that type the model
/// has), fastest first.
fn time_backends(model: &Model<'_>) -> Vec<(&'static str, f64)> {
    let mut cost: Vec<(&'static str, f64)> = Vec::new();
    for (ty, elems) in weight_mix(model) {
        let scale = elems as f64 / (64.0 * 1024.0);
        for t in quant::simd::time_backends(&[ty]) {
            match cost.iter_mut().find(|c| c.0 == t.name) {
                Some(c) => c.1 += t.ticks as f64 * scale,
                None => cost.push((t.name, t.ticks as f64 * scale)),
            }
        }
    }
    cost.sort_by(|a, b| a.1.total_cmp(&b.1));
    cost
}

/// The backend named on the command line, else the fastest by timing on
/// this model's weight types.
fn pick_backend(model: &Model<'_>, forced: Option<&str>) -> (&'static Backend, String) {
    if let Some(name) = forced {
        match quant::by_name(name) {
            Some(b) => return (b, String::from("chosen on the kernel command line")),
            None => say!(
                "{}; timing the others",
                quant::backend::unknown_backend(name)
            ),
        }
    }
    let t0 = time::uptime();
    let timings = time_backends(model);
    let took = time::uptime() - t0;
    let Some(&best) = timings.first() else {
        return (&quant::SCALAR, String::from("no backend could be timed"));
    };
    let backend = quant::by_name(best.0).unwrap_or(&quant::SCALAR);
    let others: Vec<String> = timings[1..]
        .iter()
        .map(|t| format!("{} {:.2}x", t.0, t.1 / best.1.max(1.0)))
        .collect();
    let why = if others.is_empty() {
        String::from("the only one available")
    } else {
        format!(
            "fastest of {} on this model's weight mix, timed in {} ms (slower: {})",
            timings.len(),
            took.as_millis(),
            others.join(", ")
        )
    };
    (backend, why)
}

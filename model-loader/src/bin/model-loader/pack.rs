//! `model-loader pack` and `model-loader tiny`.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use model_loader::conversation::{self, Conversation, Options};
use model_loader::gguf::Gguf;
use model_loader::model::Model;
use model_loader::pack_file::write_pack;
use model_loader::tiny;
use model_loader::tokenizer::Tokenizer;

use crate::flags::Flags;
use crate::host_io::HostIo;
use crate::{backend, fail};

pub const PACK_USAGE: &str =
    "model-loader pack [--name NAME] [--no-prefix] [--backend B] [--ctx N] MODEL.gguf OUT.img";
pub const TINY_USAGE: &str = "model-loader tiny [--seed S] [--vocab VOCAB.gguf] OUT.gguf";

/// The GPT-2 vocabulary of llama.cpp's tests (MIT), vendored in `data/`.
static GPT2_VOCAB: &[u8] = include_bytes!("../../../data/ggml-vocab-gpt-2.gguf");

/// Writes a model pack: the GGUF at 2 MiB and, unless `--no-prefix`, the
/// system prompt's KV cache computed here by the conversation engine
/// (the kernel restores it instead of prefilling).
pub fn pack(args: &[String]) -> ExitCode {
    let mut f = Flags::new(args);
    let parsed = (|| {
        let name = f.value("--name")?;
        let no_prefix = f.switch("--no-prefix");
        let backend_name = f.value("--backend")?;
        let n_ctx = f.parsed::<usize>("--ctx")?.unwrap_or(4096);
        let pos = f.positional(2)?;
        Ok::<_, String>((name, no_prefix, backend_name, n_ctx, pos))
    })();
    let (name, no_prefix, backend_name, n_ctx, pos) = match parsed {
        Ok(p) => p,
        Err(e) => return fail(3, &format!("{e}\nusage: {PACK_USAGE}")),
    };
    let (model_path, out) = (Path::new(&pos[0]), Path::new(&pos[1]));
    let name = name.unwrap_or_else(|| {
        model_path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into())
    });
    let t0 = Instant::now();

    let section = if no_prefix {
        None
    } else {
        let backend = match backend(backend_name.as_deref()) {
            Ok(b) => b,
            Err(e) => return fail(3, &e),
        };
        match system_prefix(model_path, backend, n_ctx) {
            Ok(s) => Some(s),
            Err((code, e)) => return fail(code, &e),
        }
    };
    let t_prefix = t0.elapsed();

    match write_pack(model_path, out, &name, section.as_ref().map(|s| &s.0[..])) {
        Ok(h) => {
            println!(
                "wrote {}: pack {:?}, {} bytes; GGUF {} bytes at {}",
                out.display(),
                h.name,
                h.image_len(),
                h.gguf_len,
                h.gguf_offset
            );
            match &section {
                Some((bytes, tokens, backend)) => println!(
                    "system prefix: {tokens} tokens, {} bytes at {}, computed by backend {backend} in {:.2}s",
                    bytes.len(),
                    h.prefix_offset,
                    t_prefix.as_secs_f64()
                ),
                None => println!("system prefix: none (the kernel computes it on first use)"),
            }
            println!("total {:.2}s", t0.elapsed().as_secs_f64());
            ExitCode::SUCCESS
        }
        Err(e) => fail(2, &format!("cannot write {}: {e}", out.display())),
    }
}

/// The encoded prefix section, its token count and the backend's name.
fn system_prefix(
    path: &Path,
    backend: &model_loader::quant::Backend,
    n_ctx: usize,
) -> Result<(Vec<u8>, usize, &'static str), (u8, String)> {
    let bytes =
        std::fs::read(path).map_err(|e| (2, format!("cannot read {}: {e}", path.display())))?;
    let g = Gguf::parse(&bytes).map_err(|e| (2, format!("{}: {e}", path.display())))?;
    let model = Model::from_gguf(&g).map_err(|e| (1, format!("{}: {e}", path.display())))?;
    let tok = Tokenizer::from_gguf(&g).map_err(|e| (1, format!("{}: {e}", path.display())))?;
    let (template, notice) = conversation::template_for(&g);
    let mut io = HostIo::new();
    if let Some(n) = notice {
        eprintln!("[{n}]");
    }
    // The kernel's system prompt: the registry's commands as the model's
    // tools (the kernel uses this cache only for exactly this text).
    let opts = Options {
        n_ctx,
        system_prompt: model_loader::agent::registry_system_prompt(
            model_loader::agent::ToolFormat::from_gguf(&g),
        ),
        ..Options::default()
    };
    let format = model_loader::agent::ToolFormat::from_gguf(&g);
    let mut conv = Conversation::new(&model, &tok, template, backend, opts, None, &mut io)
        .map_err(|e| (1, format!("system prompt: {e}")))?;
    let n = conv.system_prefix().1.len();
    // The agent's name prior for this prompt (the kernel measures it at
    // boot when the pack has none).
    let mut agent = model_loader::agent::Agent::new(
        &model_loader::agent::klib_registry::REGISTRY,
        &tok,
        format,
    );
    agent
        .calibrate(&mut conv, &mut io)
        .map_err(|e| (1, format!("name prior: {e}")))?;
    let prior = agent.grammar.prior.as_deref();
    Ok((conv.system_prefix_section(prior), n, backend.name))
}

/// Writes the tiny random-weight model.
pub fn tiny_model(args: &[String]) -> ExitCode {
    let mut f = Flags::new(args);
    let parsed = (|| {
        let seed = f.parsed::<u64>("--seed")?.unwrap_or(1);
        let vocab = f.value("--vocab")?;
        let pos = f.positional(1)?;
        Ok::<_, String>((seed, vocab, pos))
    })();
    let (seed, vocab_path, pos) = match parsed {
        Ok(p) => p,
        Err(e) => return fail(3, &format!("{e}\nusage: {TINY_USAGE}")),
    };
    let vocab_bytes = match &vocab_path {
        Some(p) => match std::fs::read(p) {
            Ok(b) => b,
            Err(e) => return fail(2, &format!("cannot read {p}: {e}")),
        },
        None => GPT2_VOCAB.to_vec(),
    };
    let vocab = match Gguf::parse(&vocab_bytes) {
        Ok(v) => v,
        Err(e) => return fail(2, &format!("vocabulary: {e}")),
    };
    let bytes = match tiny::write(seed, &vocab) {
        Ok(b) => b,
        Err(e) => return fail(1, &format!("tiny model: {e}")),
    };
    if let Err(e) = std::fs::write(&pos[0], &bytes) {
        return fail(2, &format!("cannot write {}: {e}", pos[0]));
    }
    println!(
        "wrote {}: tiny random llama, seed {seed}, {} bytes",
        pos[0],
        bytes.len()
    );
    ExitCode::SUCCESS
}

//! `cargo xtask generate`: runs the inference engine on the host.
//!
//! The prompt is used raw (no chat template): special tokens in it are
//! parsed, and BOS is added where the model's metadata asks for one, exactly
//! as the kernel's `/complete` does.

use std::io::Write;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use model_loader::gguf::Gguf;
use model_loader::model::Model;
use model_loader::parallel::ThreadTeam;
use model_loader::quant;
use model_loader::sampler::{Sampler, SamplerConfig};
use model_loader::session::Session;
use model_loader::tokenizer::{Detokenizer, Tokenizer};

use crate::args::Args;
use crate::models::resolve;

const USAGE: &str = "\
usage: cargo xtask generate --model M (--prompt TEXT | --prompt-ids 1,2,3) [options]
  --model M            smollm2, qwen-coder, or a GGUF path
  -n N                 tokens to generate (default 64)
  --temp T             temperature (default 0: greedy)
  --top-k K            (default 40)       --top-p P   (default 0.95)
  --repeat-penalty R   (default 1: off)   --seed S    (default 0)
  --ctx N              context length (default 2048)
  --batch N            prefill batch size (default 64)
  --backend NAME       kernel backend (default $LLM_BACKEND, else the best available)
  --threads N          threads the matrix products are split over (default: all cores;
                       the output does not depend on it)
  --ids                print {\"prompt_ids\":[...],\"gen_ids\":[...]} instead of text";

pub fn main(args: Vec<String>) -> Result<()> {
    let mut a = Args::new(args);
    if a.flag("--help") || a.flag("-h") {
        println!("{USAGE}");
        return Ok(());
    }
    let model_name = a
        .value("--model")?
        .ok_or_else(|| anyhow!("--model is required\n{USAGE}"))?;
    let prompt = a.value("--prompt")?;
    let prompt_ids = a.value("--prompt-ids")?;
    let n_gen: usize = a.parsed("-n")?.unwrap_or(64);
    let defaults = SamplerConfig::default();
    let cfg = SamplerConfig {
        temperature: a.parsed("--temp")?.unwrap_or(0.0),
        top_k: a.parsed("--top-k")?.unwrap_or(defaults.top_k),
        top_p: a.parsed("--top-p")?.unwrap_or(defaults.top_p),
        repeat_penalty: a.parsed("--repeat-penalty")?.unwrap_or(1.0),
        repeat_last_n: defaults.repeat_last_n,
        seed: a.parsed("--seed")?.unwrap_or(0),
    };
    let n_ctx: usize = a.parsed("--ctx")?.unwrap_or(2048);
    let batch: usize = a.parsed("--batch")?.unwrap_or(64);
    let backend_name = a.value("--backend")?;
    let print_ids = a.flag("--ids");
    let threads: Option<usize> = a.parsed("--threads")?;
    a.finish()?;
    let team = ThreadTeam::for_threads(threads).map_err(|e| anyhow!(e))?;

    let backend = match backend_name {
        Some(name) => {
            quant::by_name(&name).ok_or_else(|| anyhow!(quant::backend::unknown_backend(&name)))?
        }
        None => quant::from_env().map_err(|e| anyhow!(e))?,
    };
    let path = resolve(&model_name)?;
    let t_load = Instant::now();
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let gguf = Gguf::parse(&bytes).with_context(|| format!("parsing {}", path.display()))?;
    let model = Model::from_gguf(&gguf).with_context(|| format!("loading {}", path.display()))?;
    let tokenizer = Tokenizer::from_gguf(&gguf).map_err(|e| anyhow!("tokenizer: {e}"))?;

    let ids: Vec<u32> = match (prompt, prompt_ids) {
        (Some(text), None) => tokenizer.encode(&text, true, true),
        (None, Some(list)) => list
            .split(',')
            .map(|s| {
                s.trim()
                    .parse::<u32>()
                    .with_context(|| format!("bad token id `{s}`"))
            })
            .collect::<Result<_>>()?,
        _ => bail!("give exactly one of --prompt and --prompt-ids\n{USAGE}"),
    };
    if ids.is_empty() {
        bail!("the prompt has no tokens");
    }
    let mut session = Session::new(&model, backend, n_ctx, batch)?;
    session.set_team(team);
    eprintln!(
        "[{}: {} layers, backend {}, {} thread{}, loaded in {:.2}s, prompt {} tokens]",
        path.file_name().and_then(|f| f.to_str()).unwrap_or("model"),
        model.hparams.n_layer,
        backend.name,
        team.workers(),
        if team.workers() == 1 { "" } else { "s" },
        t_load.elapsed().as_secs_f64(),
        ids.len()
    );

    let mut sampler = Sampler::new(cfg);
    let mut history = ids.clone();
    let mut gen = Vec::new();
    let mut detok = Detokenizer::new(&tokenizer, false);
    let mut out = std::io::stdout().lock();

    let t0 = Instant::now();
    let logits = session.prefill(&ids, None)?;
    let mut next = sampler.sample(logits, &history);
    let t_prefill = t0.elapsed();
    let t1 = Instant::now();
    let mut n_decoded = 0;
    while gen.len() < n_gen {
        gen.push(next);
        history.push(next);
        if tokenizer.is_eog(next) {
            break;
        }
        if !print_ids {
            let piece = detok.push(next).map_err(|e| anyhow!("{e}"))?;
            out.write_all(piece.as_bytes())?;
            out.flush()?;
        }
        if gen.len() == n_gen || session.n_tokens() == session.n_ctx() {
            break;
        }
        let logits = session.decode_step(next)?;
        n_decoded += 1;
        next = sampler.sample(logits, &history);
    }
    let t_decode = t1.elapsed();
    if print_ids {
        let list = |v: &[u32]| {
            v.iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        writeln!(
            out,
            "{{\"prompt_ids\":[{}],\"gen_ids\":[{}]}}",
            list(&ids),
            list(&gen)
        )?;
    } else {
        write!(out, "{}", detok.finish())?;
        writeln!(out)?;
    }
    eprintln!(
        "[prefill {} tokens in {:.3}s ({:.1} tok/s), decode {} tokens in {:.3}s ({:.1} tok/s)]",
        ids.len(),
        t_prefill.as_secs_f64(),
        ids.len() as f64 / t_prefill.as_secs_f64(),
        n_decoded,
        t_decode.as_secs_f64(),
        n_decoded as f64 / t_decode.as_secs_f64().max(1e-9),
    );
    Ok(())
}

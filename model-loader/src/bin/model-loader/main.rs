//! `model-loader`: host tool to look into GGUF models.
//!
//! ```text
//! model-loader inspect FILE            what the file is and whether our engine runs it
//! model-loader tokenize FILE TEXT      token ids of TEXT (special tokens parsed, BOS as the model asks)
//! model-loader pack [...] MODEL OUT    a model pack with the system prompt's KV cache
//! model-loader tiny [...] OUT          the tiny random-weight test model
//! model-loader chat [...] MODEL        the kernel's conversation engine on stdin/stdout
//! ```
//!
//! Exit codes: 0 success (for `inspect`: the engine supports the file),
//! 1 the file is a valid GGUF our engine does not support, 2 the file cannot
//! be read or is truncated/corrupt, 3 bad usage.

mod chat;
mod flags;
mod host_io;
mod pack;

use std::fmt::Write as _;
use std::process::ExitCode;

use model_loader::chat::ChatTemplate;
use model_loader::ggml::GgmlType;
use model_loader::gguf::Gguf;
use model_loader::hparams::HParams;
use model_loader::quant::{self, Backend};
use model_loader::support;
use model_loader::tokenizer::Tokenizer;

fn usage() -> String {
    format!(
        "usage: model-loader inspect FILE\n       model-loader tokenize FILE TEXT\n       {}\n       {}\n       {}\n",
        pack::PACK_USAGE,
        pack::TINY_USAGE,
        chat::USAGE
    )
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["inspect", file] => inspect(file),
        ["tokenize", file, text] => tokenize(file, text),
        ["pack", ..] => pack::pack(&args[1..]),
        ["tiny", ..] => pack::tiny_model(&args[1..]),
        ["chat", ..] => chat::chat(&args[1..]),
        ["-h" | "--help" | "help"] => {
            print!("{}", usage());
            ExitCode::SUCCESS
        }
        _ => {
            eprint!("{}", usage());
            ExitCode::from(3)
        }
    }
}

/// Prints `msg` as an error and returns exit code `code`.
fn fail(code: u8, msg: &str) -> ExitCode {
    eprintln!("model-loader: {msg}");
    ExitCode::from(code)
}

/// The backend named, else `$LLM_BACKEND`, else the best available.
fn backend(name: Option<&str>) -> Result<&'static Backend, String> {
    match name {
        Some(n) => quant::by_name(n).ok_or_else(|| quant::backend::unknown_backend(n)),
        None => quant::from_env(),
    }
}

/// Reads and parses `file`, or explains why it cannot (exit code 2).
fn load(file: &str) -> Result<Vec<u8>, ExitCode> {
    std::fs::read(file).map_err(|e| {
        eprintln!("model-loader: cannot read {file}: {e}");
        ExitCode::from(2)
    })
}

fn parse<'a>(file: &str, bytes: &'a [u8]) -> Result<Gguf<'a>, ExitCode> {
    Gguf::parse(bytes).map_err(|e| {
        eprintln!("model-loader: {file} is not a usable GGUF file: {e}");
        ExitCode::from(2)
    })
}

fn inspect(file: &str) -> ExitCode {
    let bytes = match load(file) {
        Ok(b) => b,
        Err(c) => return c,
    };
    let g = match parse(file, &bytes) {
        Ok(g) => g,
        Err(c) => return c,
    };
    print!("{}", report(file, &g));
    let mut problems: Vec<String> = support::check(&g).iter().map(|p| p.to_string()).collect();
    // The full tokenizer build also validates merges, duplicates, ...
    if problems.is_empty() {
        if let Err(e) = Tokenizer::from_gguf(&g) {
            problems.push(format!("tokenizer: {e}"));
        }
    }
    if problems.is_empty() {
        println!("supported:      yes");
        ExitCode::SUCCESS
    } else {
        println!("supported:      NO");
        for p in &problems {
            println!("  - {p}");
        }
        ExitCode::from(1)
    }
}

fn report(file: &str, g: &Gguf<'_>) -> String {
    let mut s = String::new();
    let str_of = |k: &str| g.get_str(k).ok().flatten();
    let _ = writeln!(
        s,
        "file:           {file} ({} bytes, GGUF v{}, {} tensors, {} metadata keys)",
        g.file_len,
        g.version,
        g.tensors().len(),
        g.metadata().len()
    );
    if let Some(n) = str_of("general.name") {
        let _ = writeln!(s, "name:           {n}");
    }
    let _ = writeln!(
        s,
        "architecture:   {}",
        g.architecture().unwrap_or("(missing)")
    );
    let _ = writeln!(s, "parameters:     {}", human(g.parameter_count()));
    match HParams::from_gguf(g) {
        Ok(hp) => {
            let _ = writeln!(s, "context length: {}", hp.n_ctx_train);
            let _ = writeln!(
                s,
                "layers:         {}, embedding {}, feed-forward {}",
                hp.n_layer, hp.n_embd, hp.n_ff
            );
            let _ = writeln!(
                s,
                "heads:          {} query, {} key/value (head dim {})",
                hp.n_head, hp.n_head_kv, hp.head_dim
            );
            let _ = writeln!(
                s,
                "rope:           base {}, {} dims{}; rms eps {:e}",
                hp.rope_freq_base,
                hp.rope_dim,
                if hp.rope_scale != 1.0 {
                    format!(", linear scale {}", hp.rope_scale)
                } else {
                    String::new()
                },
                hp.rms_eps
            );
            let _ = writeln!(
                s,
                "output:         {}",
                if hp.tied_embeddings {
                    "tied to token_embd.weight"
                } else {
                    "output.weight"
                }
            );
        }
        Err(e) => {
            let _ = writeln!(s, "hyperparameters: cannot read: {e}");
        }
    }
    match Tokenizer::from_gguf(g) {
        Ok(tok) => {
            let _ = writeln!(s, "vocabulary:     {}", tok.describe());
            let name = |id: Option<u32>| match id {
                None => "none".to_string(),
                Some(id) => format!(
                    "{id} {:?}",
                    String::from_utf8_lossy(tok.token_text(id).unwrap_or_default())
                ),
            };
            let _ = writeln!(
                s,
                "                BOS {} ({}), EOS {}, EOT {}",
                name(tok.bos()),
                if tok.adds_bos() { "added" } else { "not added" },
                name(tok.eos()),
                name(tok.eot())
            );
            let eog: Vec<String> = tok.eog_ids().iter().map(|&i| name(Some(i))).collect();
            let _ = writeln!(s, "                end of generation: {}", eog.join(", "));
        }
        Err(e) => {
            let (m, p) = (str_of("tokenizer.ggml.model"), str_of("tokenizer.ggml.pre"));
            let _ = writeln!(
                s,
                "vocabulary:     model {:?}, pre {:?}: {e}",
                m.unwrap_or("?"),
                p.unwrap_or("?")
            );
        }
    }
    match str_of("tokenizer.chat_template") {
        None => {
            let _ = writeln!(s, "chat template:  none");
        }
        Some(t) => {
            match ChatTemplate::detect(t) {
                Ok(ct) => {
                    let _ = write!(s, "chat template:  {}", ct.family.name());
                    match &ct.default_system {
                        Some(d) => {
                            let _ = writeln!(s, " (default system prompt {d:?})");
                        }
                        None => s.push('\n'),
                    }
                }
                Err(e) => {
                    let _ = writeln!(s, "chat template:  {e}");
                }
            }
            let lines: Vec<&str> = t.lines().collect();
            for l in lines.iter().take(6) {
                let _ = writeln!(s, "                | {}", truncate(l, 100));
            }
            if lines.len() > 6 {
                let _ = writeln!(s, "                | ... ({} lines)", lines.len());
            }
        }
    }
    // Tensor count per type, in type order.
    let mut types: Vec<(GgmlType, usize, u64)> = Vec::new();
    for t in g.tensors() {
        match types.iter_mut().find(|e| e.0 == t.ty) {
            Some(e) => {
                e.1 += 1;
                e.2 += t.data.len() as u64;
            }
            None => types.push((t.ty, 1, t.data.len() as u64)),
        }
    }
    types.sort_by_key(|e| e.0);
    let parts: Vec<String> = types
        .iter()
        .map(|(ty, n, b)| format!("{ty} {n} ({:.1} MiB)", *b as f64 / (1 << 20) as f64))
        .collect();
    let _ = writeln!(s, "tensor types:   {}", parts.join(", "));
    s
}

fn human(n: u64) -> String {
    if n >= 1_000_000_000 {
        format!("{:.2} B ({n})", n as f64 / 1e9)
    } else {
        format!("{:.1} M ({n})", n as f64 / 1e6)
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let t: String = s.chars().take(max).collect();
    t + "…"
}

fn tokenize(file: &str, text: &str) -> ExitCode {
    let bytes = match load(file) {
        Ok(b) => b,
        Err(c) => return c,
    };
    let g = match parse(file, &bytes) {
        Ok(g) => g,
        Err(c) => return c,
    };
    let tok = match Tokenizer::from_gguf(&g) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("model-loader: {file}: {e}");
            return ExitCode::from(1);
        }
    };
    let ids = tok.encode(text, true, true);
    for id in &ids {
        let piece = tok.token_bytes(*id).unwrap_or_default();
        println!("{id:>8} {:?}", String::from_utf8_lossy(piece));
    }
    println!("{} tokens: {ids:?}", ids.len());
    ExitCode::SUCCESS
}

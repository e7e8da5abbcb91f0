//! `model-loader chat`: the kernel's conversation engine on stdin/stdout,
//! for checking the chat logic without QEMU. Lines are user turns; lines
//! starting with `/` are the kernel's chat commands.

use std::io::BufRead;
use std::path::Path;
use std::process::ExitCode;

use model_loader::conversation::{self, args, Conversation, Io, Options};
use model_loader::gguf::Gguf;
use model_loader::model::Model;
use model_loader::pack_file::ModelImage;
use model_loader::parallel::ThreadTeam;
use model_loader::tokenizer::Tokenizer;

use crate::flags::Flags;
use crate::host_io::HostIo;
use crate::{backend, fail};

pub const USAGE: &str = "model-loader chat [--backend B] [--threads N] [--ctx N] [--max-tokens N] [--temp T] [--seed S] MODEL.gguf|PACK.img";

const HELP: &str = "\
/reset             forget the conversation (keeps the system prompt)
/stats             context use, speeds, sampler settings
/model             what is loaded
/temp T            sampling temperature (0: greedy)
/top-p P           nucleus sampling threshold
/seed S            restart the random stream from S
/complete [-n N] TEXT   raw greedy continuation, no template
/quit              leave";

pub fn chat(argv: &[String]) -> ExitCode {
    let mut f = Flags::new(argv);
    let defaults = Options::default();
    let parsed = (|| {
        let backend_name = f.value("--backend")?;
        let team = ThreadTeam::for_threads(f.parsed::<usize>("--threads")?)?;
        let n_ctx = f.parsed::<usize>("--ctx")?.unwrap_or(4096);
        let max_tokens = f.parsed::<usize>("--max-tokens")?;
        let temp = f
            .value("--temp")?
            .map(|t| args::temperature(&t))
            .transpose()?;
        let seed = f.value("--seed")?.map(|s| args::seed(&s)).transpose()?;
        let pos = f.positional(1)?;
        Ok::<_, String>((backend_name, team, n_ctx, max_tokens, temp, seed, pos))
    })();
    let (backend_name, team, n_ctx, max_tokens, temp, seed, pos) = match parsed {
        Ok(p) => p,
        Err(e) => return fail(3, &format!("{e}\nusage: {USAGE}")),
    };
    let backend = match backend(backend_name.as_deref()) {
        Ok(b) => b,
        Err(e) => return fail(3, &e),
    };
    let path = Path::new(&pos[0]);
    let image = match ModelImage::read(path) {
        Ok(i) => i,
        Err(e) => return fail(2, &format!("{}: {e}", path.display())),
    };
    let g = match Gguf::parse(image.gguf()) {
        Ok(g) => g,
        Err(e) => return fail(2, &format!("{}: {e}", path.display())),
    };
    let (model, tok) = match (Model::from_gguf(&g), Tokenizer::from_gguf(&g)) {
        (Ok(m), Ok(t)) => (m, t),
        (Err(e), _) => return fail(1, &format!("{}: {e}", path.display())),
        (_, Err(e)) => return fail(1, &format!("{}: {e}", path.display())),
    };
    let model_name = match &image.header {
        Some(h) => h.name.clone(),
        None => g
            .get_str("general.name")
            .ok()
            .flatten()
            .unwrap_or("model")
            .to_string(),
    };
    let prefix = match image.prefix() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("[{e}; the system prompt will be computed]");
            None
        }
    };
    let mut io = HostIo::new();
    let (template, notice) = conversation::template_for(&g);
    if let Some(n) = notice {
        io.dim(&n);
    }
    // The kernel's system prompt (the registry's commands as tools, in the
    // model's format), so that a pack's saved cache is used as it is.
    let mut opts = Options {
        n_ctx,
        team,
        system_prompt: model_loader::agent::registry_system_prompt(
            model_loader::agent::ToolFormat::from_gguf(&g),
        ),
        ..defaults
    };
    if let Some(n) = max_tokens {
        opts.max_reply_tokens = n;
    }
    if let Some(t) = temp {
        opts.sampler.temperature = t;
    }
    if let Some(s) = seed {
        opts.sampler.seed = s;
    }
    let mut conv = match Conversation::new(
        &model,
        &tok,
        template,
        backend,
        opts,
        prefix.as_ref(),
        &mut io,
    ) {
        Ok(c) => c,
        Err(e) => return fail(1, &format!("{e}")),
    };
    io.dim(
        &conv
            .model_report(&model_name)
            .trim_end()
            .replace('\n', "; "),
    );

    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let line = line.trim_end_matches(['\r', '\n']);
        if line.trim().is_empty() {
            continue;
        }
        if let Some(cmd) = line.strip_prefix('/') {
            let (name, arg) = cmd.split_once(' ').unwrap_or((cmd, ""));
            if !command(&mut conv, name, arg, &model_name, &mut io) {
                break;
            }
            continue;
        }
        match conv.reply(line, &mut io) {
            Ok(stats) => {
                println!();
                io.dim(&stats.summary());
            }
            Err(e) => io.notice(&format!("error: {e}")),
        }
    }
    ExitCode::SUCCESS
}

/// Runs one `/command`; false to quit.
fn command(
    conv: &mut Conversation<'_, '_>,
    name: &str,
    arg: &str,
    model_name: &str,
    io: &mut HostIo,
) -> bool {
    let result: Result<(), String> = match name {
        "quit" | "exit" => return false,
        "help" => {
            println!("{HELP}");
            Ok(())
        }
        "reset" => {
            conv.reset();
            io.notice("conversation reset");
            Ok(())
        }
        "stats" => {
            print!("{}", conv.stats_report());
            Ok(())
        }
        "model" => {
            print!("{}", conv.model_report(model_name));
            Ok(())
        }
        "temp" => args::temperature(arg).map(|t| conv.set_temperature(t)),
        "top-p" => args::top_p(arg).map(|p| conv.set_top_p(p)),
        "seed" => args::seed(arg).map(|s| conv.set_seed(s)),
        "complete" => args::complete(arg).and_then(|(n, text)| {
            let r = conv.complete(text, n, io).map_err(|e| e.to_string())?;
            println!();
            io.dim(&r.stats.summary());
            Ok(())
        }),
        other => Err(format!("unknown command /{other}; /help lists them")),
    };
    if let Err(e) = result {
        io.notice(&format!("error: {e}"));
    }
    true
}

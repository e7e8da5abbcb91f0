//! The kernel's side of the agent (`model_loader::agent`): the [`Os`] the
//! agent loop talks to. A model's call is shown as `→ /rm /drafts/old.txt`
//! before it runs, confirmed with `[y/N]` from the console keys when the
//! policy asks for it, run through the registry like a typed command, and
//! every command, typed or proposed, is appended to the audit log.
//!
//! The audit log is `/log/audit.log` ([`audit_log`]).

pub mod audit_log;

use crate::console::style::{paint, Style};
use crate::drivers::rtc;
use crate::shell::registry::{self, Handlers};
use crate::{console, println, time};
use alloc::format;
use alloc::string::String;
use klib::registry::{Invocation, Output};
use klib::{out, outln};
use model_loader::agent::{Answer, Decision, Origin, Os, Record};

/// Appends one record to the audit log.
pub fn append(r: &Record) {
    let t = match rtc::now() {
        Some(dt) => format!("{dt}"),
        None => format!("uptime {:.3}s", time::uptime().as_secs_f64()),
    };
    audit_log::append(r, &t);
}

/// Records a command the person typed (valid or not) and its result.
pub fn audit_person(line: &str, inv: Option<&Invocation>, status: Result<(), String>, us: u64) {
    append(&Record {
        origin: Origin::Person,
        raw: line.into(),
        command: inv.map(Invocation::command_line),
        tier: inv.map(|i| i.spec.tier),
        decision: if inv.is_some() {
            Decision::Ran
        } else {
            Decision::Invalid
        },
        status,
        duration_us: us,
    });
}

/// The console as the agent's operating system.
pub struct KernelOs {
    /// When the person pressed Enter (a call's line shows the time since).
    pub started: core::time::Duration,
}

impl Os for KernelOs {
    fn show(&mut self, line: &str) {
        let after = (time::uptime() - self.started).as_secs_f64();
        println!(
            "{} {}",
            paint(Style::Cyan, line),
            paint(Style::Dim, format!("({after:.1} s)"))
        );
    }

    /// A `/write` onto an existing file replaces its data (`/mv` never
    /// replaces, `/append` keeps what is there). When the filesystem
    /// cannot say, it asks (true).
    fn replaces_data(&mut self, inv: &Invocation) -> bool {
        if inv.name() != "write" {
            return false;
        }
        let Some(p) = inv.str("path") else {
            return false;
        };
        crate::fs::with(|m| {
            let path = m.session.resolve(p)?;
            m.fs.exists(&path)
        })
        .map_or(true, |r| r.unwrap_or(true))
    }

    fn confirm(&mut self, question: &str) -> Answer {
        let prompt = format!("{} ", paint(Style::Yellow, format!("{question} [y/N]")));
        // Typed-ahead keys must not answer: only a line typed now does.
        crate::model::chat::clear_interrupts();
        // A background request (/bg) takes steps while the person decides.
        let lent = crate::shell::steps_lent_at_prompt();
        let line = console::read_line(&prompt);
        let lent = crate::shell::steps_lent_at_prompt() - lent;
        if lent > 0 {
            println!(
                "{}",
                paint(
                    Style::Dim,
                    format!("(a background request took {lent} steps while you decided)")
                )
            );
        }
        match line {
            None => Answer::Cancel,
            Some(l) if matches!(l.trim(), "y" | "Y" | "yes" | "Yes" | "YES") => Answer::Yes,
            Some(_) => Answer::No,
        }
    }

    fn run(&mut self, inv: &Invocation) -> Result<String, String> {
        let (r, kept) = registry::run_on_console(inv);
        match r {
            Ok(()) => Ok(kept),
            Err(e) => {
                crate::shell::error_line(&e);
                Err(e)
            }
        }
    }

    fn audit(&mut self, record: &Record) {
        append(record);
    }

    fn now_us(&mut self) -> u64 {
        time::uptime().as_micros() as u64
    }
}

type Result2 = core::result::Result<(), String>;

/// The agent's commands' handlers.
pub static HANDLERS: Handlers = &[("audit", cmd_audit), ("explain", cmd_explain)];

fn cmd_audit(inv: &Invocation, out: &mut Output) -> Result2 {
    let n = inv.int("count").unwrap_or(10) as usize;
    for l in audit_log::report(n) {
        outln!(out, "{l}");
    }
    Ok(())
}

fn cmd_explain(_: &Invocation, out: &mut Output) -> Result2 {
    crate::model::with(|m| {
        let tok = m.conv.tokenizer();
        let trace = &m.agent.trace;
        if trace.is_empty() {
            outln!(out, "no reply yet");
            return;
        }
        let show = |t: u32| {
            let b = tok.token_bytes(t).unwrap_or_default();
            format!("{:?}", String::from_utf8_lossy(b))
        };
        for c in trace {
            out!(out, "{:>24} ", show(c.token));
            if c.allowed == usize::MAX {
                outln!(out, "(forced by the grammar)");
                continue;
            }
            out!(out, "p={:.3}", c.p);
            for (t, p) in &c.top {
                if *t != c.token {
                    out!(out, "  {} {:.3}", show(*t), p);
                }
            }
            if c.allowed > 0 {
                out!(
                    out,
                    "  [grammar: the first choice was invalid; {} tokens allowed]",
                    c.allowed
                );
            }
            outln!(out);
        }
        // How a call's name was chosen: by its gain over the name prior.
        let names = m.agent.names_by_gain();
        if !names.is_empty() {
            out!(
                out,
                "call name candidates (probability, gain over the prior):"
            );
            for (t, p, g) in &names {
                out!(out, "  {} {p:.2} {g:+.1}", show(*t));
            }
            outln!(out);
        }
        if m.agent.abandoned {
            outln!(
                out,
                "no candidate gained enough over the prior: the call was dropped, and the reply above answered in text"
            );
        }
    })
}

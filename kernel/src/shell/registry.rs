//! The kernel's side of the command registry: each command described in
//! `klib::registry::commands` is joined here, by name, to its handler. A
//! subject lists its handlers in a table of its own, next to them
//! (`shell::commands::HANDLERS`, `model::commands::HANDLERS`, ...), and
//! [`TABLES`] lists the tables.
//!
//! A handler gets the checked [`Invocation`] and an [`Output`] to write
//! into (shown on the console as it is written); it returns `Err(message)`
//! when the command failed, and the caller prints the message.

use crate::console;
use alloc::string::String;
use klib::registry::{Invocation, Output, REGISTRY};

pub type Handler = fn(&Invocation, &mut Output) -> Result<(), String>;

/// One subject's handlers, by command name.
pub type Handlers = &'static [(&'static str, Handler)];

/// Every subject's handler table.
static TABLES: &[Handlers] = &[
    super::commands::HANDLERS,
    crate::model::commands::HANDLERS,
    crate::task::commands::HANDLERS,
    crate::fs::commands::HANDLERS,
    crate::agent::HANDLERS,
];

/// The handler of the command called `name`.
pub fn handler(name: &str) -> Option<Handler> {
    TABLES
        .iter()
        .flat_map(|t| t.iter())
        .find(|(n, _)| *n == name)
        .map(|(_, h)| *h)
}

/// Runs `inv`'s handler with its output going to `out`.
pub fn run(inv: &Invocation, out: &mut Output) -> Result<(), String> {
    match handler(inv.name()) {
        Some(h) => h(inv, out),
        None => Err(alloc::format!(
            "/{} has no handler in this kernel",
            inv.name()
        )),
    }
}

/// How much of a command's output is kept (for the model and the audit
/// log) when the console shows it.
pub const KEEP: usize = 4096;

/// Runs `inv` with its output on the console; returns the result and the
/// output.
pub fn run_on_console(inv: &Invocation) -> (Result<(), String>, String) {
    let mut show = |s: &str| console::_print(format_args!("{s}"));
    let mut out = Output::new(&mut show, KEEP);
    let r = run(inv, &mut out);
    (r, String::from(out.kept()))
}

/// Commands described in the registry without a handler here, and
/// handlers for commands the registry does not describe (both are
/// mistakes; logged at boot and checked by a QEMU test).
pub fn check() {
    for spec in REGISTRY.all() {
        if handler(spec.name).is_none() {
            log::error!("registry: /{} has no handler", spec.name);
        }
    }
    for (name, _) in TABLES.iter().flat_map(|t| t.iter()) {
        if REGISTRY.all().all(|s| s.name != *name) {
            log::error!("registry: a handler for /{name}, which is not described");
        }
    }
}

//! The descriptions of every command, one slice per subject. A subject's
//! handlers live in the kernel next to it; these descriptions are
//! hardware-free so that the host can render the model's tool list from
//! them.

mod agent;
mod files;
mod model;
mod system;
mod tasks;

use super::spec::Spec;

pub use agent::AGENT;
pub use files::FILES;
pub use model::MODEL;
pub use system::SYSTEM;
pub use tasks::{BG_TOKENS, MAX_BG_TOKENS, TASKS};

/// Every slice, in the order `/help` and the model's tool list show them.
pub static ALL: &[&[Spec]] = &[SYSTEM, MODEL, FILES, TASKS, AGENT];

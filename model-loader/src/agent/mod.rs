//! The model drives the kernel: the registry's commands offered to the
//! model as tools in its own format ([`prompt`]), its calls read into
//! registry invocations ([`call`]), untrusted text defused on its way into
//! the context ([`escape`]).

pub mod audit;
pub mod call;
pub mod decode;
pub mod escape;
pub mod grammar;
pub mod ground;
pub mod json;
pub mod mask;
pub mod prompt;
pub mod run;
pub mod schedule;

#[cfg(test)]
mod fixture;
#[cfg(test)]
mod tests;

pub use call::{call_json, parse_call, CallError};
pub use decode::{CallDecoder, CallOutcome, Grammar};
pub use escape::{escape_untrusted, truncate};
pub use klib::registry as klib_registry;
pub use prompt::{registry_system_prompt, system_prompt, ToolFormat, AGENT_SYSTEM_PROMPT};
pub use run::{needs_confirmation, Agent, Answer, Decision, Origin, Os, Outcome, Record};

//! Work on every CPU: the compute team that the model's matrix work is
//! split over (one pinned worker per CPU), and jobs (commands run later or
//! repeatedly at the prompt, reminders).

pub mod bg;
pub mod commands;
pub mod jobs;
pub mod sched;
pub mod spin;
pub mod team;

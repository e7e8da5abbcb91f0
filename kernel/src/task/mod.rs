//! Work on every CPU: the compute team that the model's matrix work is
//! split over (one pinned worker per CPU).

pub mod commands;
pub mod team;

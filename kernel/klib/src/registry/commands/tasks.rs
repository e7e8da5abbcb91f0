//! Work on every CPU: the compute team (and, later, tasks and jobs).

use crate::registry::spec::{Arg, Audience, Kind, Spec, Tier};

pub static TASKS: &[Spec] = &[Spec {
    name: "test-team",
    args: &[Arg::opt(
        "rounds",
        Kind::Int {
            min: 1,
            max: 10_000_000,
        },
        "how many fork-join runs (10000 by default)",
    )],
    help: "fork-join stress of the compute team: every CPU adds to one sum each round; checks the exact sum",
    tier: Tier::Read,
    audience: Audience::Test,
}];

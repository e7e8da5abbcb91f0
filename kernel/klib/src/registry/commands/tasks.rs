//! Work on every CPU: the compute team (and, later, tasks and jobs).

use crate::registry::spec::{Arg, Audience, Kind, Spec, Tier};

pub static TASKS: &[Spec] = &[
    Spec {
        name: "team",
        args: &[
            Arg::opt(
                "cpus",
                Kind::Int { min: 1, max: 8 },
                "how many CPUs to use (all running CPUs by default at boot)",
            ),
            Arg::opt(
                "spin_us",
                Kind::Int {
                    min: 0,
                    max: 1_000_000,
                },
                "microseconds a waiting CPU spins before it halts",
            ),
        ],
        help: "show or set how many CPUs share the model's matrix work (results do not change)",
        tier: Tier::Write,
        audience: Audience::Person,
    },
    Spec {
        name: "test-team",
        args: &[Arg::opt(
            "rounds",
            Kind::Int {
                min: 1,
                max: 10_000_000,
            },
            "how many fork-join runs (10000 by default)",
        )],
        help: "fork-join stress of the compute team: every CPU adds to one sum each round",
        tier: Tier::Read,
        audience: Audience::Test,
    },
];

//! A fixed command table for the agent's tests (one command of every
//! argument kind), independent of what the kernel's registry holds today.
//! `testdata/render_hermes.py` describes the same commands in Python.

use klib::registry::{Arg, Audience, Kind, Registry, Spec, Tier};

pub static SPECS: &[Spec] = &[
    Spec {
        name: "date",
        args: &[],
        help: "the current date and time",
        tier: Tier::Read,
        audience: Audience::Everyone,
        aliases: &[],
    },
    Spec {
        name: "rm",
        args: &[
            Arg::flag("recursive", "-r", "remove a directory and all it holds"),
            Arg::req("path", Kind::Path, "what to remove"),
        ],
        help: "remove a file or directory",
        tier: Tier::Destructive,
        audience: Audience::Everyone,
        aliases: &[],
    },
    Spec {
        name: "write",
        args: &[
            Arg::req("path", Kind::Path, "the file"),
            Arg::req("text", Kind::Text, "its new content"),
        ],
        help: "replace a file's content (\"text\" is written as is) \u{2014} café",
        tier: Tier::Write,
        audience: Audience::Everyone,
        aliases: &[],
    },
    Spec {
        name: "kill",
        args: &[Arg::req("job", Kind::Word, "the job's name")],
        help: "stop a job",
        tier: Tier::Destructive,
        audience: Audience::Everyone,
        aliases: &[],
    },
    Spec {
        name: "top",
        args: &[
            Arg::option(
                "count",
                "-n",
                Kind::Int { min: 1, max: 50 },
                "how many lines",
            ),
            Arg::opt("sort", Kind::Choice(&["cpu", "mem"]), "what to sort by"),
        ],
        help: "the busiest jobs",
        tier: Tier::Read,
        audience: Audience::Everyone,
        aliases: &[],
    },
    Spec {
        name: "temp",
        args: &[Arg::req(
            "t",
            Kind::Number { min: 0.0, max: 5.0 },
            "the temperature",
        )],
        help: "set the sampling temperature",
        tier: Tier::Write,
        audience: Audience::Everyone,
        aliases: &[],
    },
    Spec {
        name: "every",
        args: &[
            Arg::req(
                "interval",
                Kind::Duration {
                    min_ms: 1000,
                    max_ms: 86_400_000,
                },
                "how often",
            ),
            Arg::req("command", Kind::Command, "what to run"),
        ],
        help: "run a command repeatedly",
        tier: Tier::Write,
        audience: Audience::Everyone,
        aliases: &[],
    },
    Spec {
        name: "shutdown",
        args: &[],
        help: "power the machine off",
        tier: Tier::Power,
        audience: Audience::Everyone,
        aliases: &[],
    },
    Spec {
        name: "bench",
        args: &[],
        help: "not for the model",
        tier: Tier::Read,
        audience: Audience::Person,
        aliases: &[],
    },
];

pub static REG: Registry = Registry::new(&[SPECS]);

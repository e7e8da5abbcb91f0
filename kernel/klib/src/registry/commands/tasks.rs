//! Work on every CPU: the compute team, the task list, and jobs (commands
//! run later or repeatedly, reminders; see `crate::jobs`).

use crate::registry::spec::{Arg, Audience, Kind, Spec, Tier};

/// The longest delay or period of a job: a week.
const WEEK_MS: u64 = 7 * 24 * 3_600_000;

/// The delay of `/after` and `/remind`.
const DELAY: Arg = Arg::req(
    "delay",
    Kind::Duration {
        min_ms: 0,
        max_ms: WEEK_MS,
    },
    "how long to wait: 500ms, 5s, 2m, 1h",
);

/// The answer cap of `/bg` when none is given, and the largest one.
pub const BG_TOKENS: u64 = 256;
pub const MAX_BG_TOKENS: u64 = 1024;

pub static TASKS: &[Spec] = &[
    Spec {
        name: "ps",
        args: &[],
        help: "what is running and using the CPU: the tasks on every CPU and the jobs (id, what, state, next run, runs, CPU time)",
        tier: Tier::Read,
        audience: Audience::Everyone,
        aliases: &["tasks"],
    },
    Spec {
        name: "kill",
        args: &[Arg::req(
            "id",
            Kind::Word,
            "a job's number (3) or a task's id (t3), as /ps shows them",
        )],
        help: "stop a job (it does not run again) or a task",
        tier: Tier::Destructive,
        audience: Audience::Everyone,
        aliases: &["stop"],
    },
    Spec {
        name: "after",
        args: &[
            DELAY,
            Arg::req(
                "command",
                Kind::Command,
                "the command to run then, e.g. /mem (not a job command)",
            ),
        ],
        help: "run a command once, later, at the prompt",
        tier: Tier::Write,
        audience: Audience::Everyone,
        aliases: &[],
    },
    Spec {
        name: "every",
        args: &[
            Arg::req(
                "period",
                Kind::Duration {
                    min_ms: crate::jobs::MIN_PERIOD_MS,
                    max_ms: WEEK_MS,
                },
                "how often: 1s at least, e.g. 10s, 5m, 1h",
            ),
            Arg::req(
                "command",
                Kind::Command,
                "the command to repeat, e.g. /mem (not a job command)",
            ),
        ],
        help: "repeat a command every period, at the prompt, until /kill",
        tier: Tier::Write,
        audience: Audience::Everyone,
        aliases: &["repeat"],
    },
    Spec {
        name: "remind",
        args: &[DELAY, Arg::req("text", Kind::Text, "what to print then")],
        help: "print a reminder above the prompt after a while",
        tier: Tier::Write,
        audience: Audience::Everyone,
        aliases: &["ping", "reminder", "alarm", "timer"],
    },
    Spec {
        name: "bg",
        args: &[
            Arg::option(
                "tokens",
                "-n",
                Kind::Int {
                    min: 1,
                    max: MAX_BG_TOKENS,
                },
                "the answer's cap in tokens (256 by default)",
            ),
            Arg::req("text", Kind::Text, "the message to answer"),
        ],
        help: "answer a message in the background (a task with its own KV cache; the conversation goes first): the answer is printed above the prompt and written to /bg/N.txt; /kill tN stops it",
        tier: Tier::Write,
        audience: Audience::Person,
        aliases: &[],
    },
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
        aliases: &[],
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
        aliases: &[],
    },
    Spec {
        name: "test-spin",
        args: &[Arg::opt(
            "tasks",
            Kind::Int { min: 1, max: 8 },
            "how many tasks to start (2 by default)",
        )],
        help: "start CPU-bound tasks on CPU 0 that check exact SIMD sums every round (preemption test; /kill tN stops one)",
        tier: Tier::Write,
        audience: Audience::Test,
        aliases: &[],
    },
];

//! The language model: what is loaded, the conversation, sampling,
//! benchmarks; and the disks it is read from.

use crate::registry::spec::{Arg, Audience, Kind, Spec, Tier};

/// The largest `-n` of `/complete`.
pub const MAX_COMPLETE_TOKENS: u64 = 4096;

pub static MODEL: &[Spec] = &[
    Spec {
        name: "model",
        args: &[],
        help: "which language model you are: name, quantizations, memory used, load figures, backend",
        tier: Tier::Read,
        audience: Audience::Everyone,
        aliases: &[],
    },
    Spec {
        name: "stats",
        args: &[],
        help: "how full the context is, prefill and decode speeds (tokens per second), sampler settings",
        tier: Tier::Read,
        audience: Audience::Everyone,
        aliases: &[],
    },
    Spec {
        name: "reset",
        args: &[],
        help: "forget the conversation (the system prompt stays)",
        tier: Tier::Write,
        audience: Audience::Person,
        aliases: &[],
    },
    Spec {
        name: "temp",
        args: &[Arg::req("t", Kind::Number { min: 0.0, max: 5.0 }, "the temperature, 0 for greedy")],
        help: "set the sampling temperature",
        tier: Tier::Write,
        audience: Audience::Person,
        aliases: &[],
    },
    Spec {
        name: "top-p",
        args: &[Arg::req("p", Kind::Number { min: 0.0, max: 1.0 }, "the nucleus threshold, above 0")],
        help: "set the nucleus sampling threshold",
        tier: Tier::Write,
        audience: Audience::Person,
        aliases: &[],
    },
    Spec {
        name: "seed",
        args: &[Arg::req("s", Kind::Int { min: 0, max: u64::MAX }, "the seed")],
        help: "restart the random stream from a seed",
        tier: Tier::Write,
        audience: Audience::Person,
        aliases: &[],
    },
    Spec {
        name: "complete",
        args: &[
            Arg::flag("ids", "--ids", "print the token ids instead of the text"),
            Arg::option(
                "tokens",
                "-n",
                Kind::Int { min: 1, max: MAX_COMPLETE_TOKENS },
                "how many tokens to generate (32 by default)",
            ),
            Arg::req("text", Kind::Text, "the text to continue"),
        ],
        help: "raw greedy continuation of a text, without the chat template",
        tier: Tier::Read,
        audience: Audience::Person,
        aliases: &[],
    },
    Spec {
        name: "bench",
        args: &[Arg::opt(
            "what",
            Kind::Text,
            "`P N` (prefill P tokens, decode N; default 16 8), `profile [N]` or `kernels`",
        )],
        help: "time the model: prefill and decode speed, time per engine step, or each backend's kernels",
        tier: Tier::Read,
        audience: Audience::Person,
        aliases: &[],
    },
    Spec {
        name: "disks",
        args: &[Arg::opt("action", Kind::Choice(&["bench"]), "bench: also measure read speed")],
        help: "list the disks and what they hold",
        tier: Tier::Read,
        audience: Audience::Everyone,
        aliases: &[],
    },
    Spec {
        name: "test-disk",
        args: &[],
        help: "write and read back 1 MiB on a disk without a model",
        tier: Tier::Write,
        audience: Audience::Test,
        aliases: &[],
    },
];

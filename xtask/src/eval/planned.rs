//! Descriptions of the file and job commands that other branches are
//! bringing (filesystem: ls, cat, write, ...; scheduler: ps, kill, every,
//! after, remind), so that the evaluation can score requests for them
//! before they land. A name the kernel's registry already has is taken
//! from the registry instead (see [`registry`]), so these drop out as the
//! real descriptions arrive.

use model_loader::agent::klib_registry::{Arg, Audience, Kind, Registry, Spec, Tier, REGISTRY};

const DELAY: Kind = Kind::Duration {
    min_ms: 1000,
    max_ms: 7 * 86_400_000,
};

pub static PLANNED: &[Spec] = &[
    Spec {
        name: "ls",
        args: &[Arg::opt(
            "path",
            Kind::Path,
            "the directory (the current one by default)",
        )],
        help: "list a directory",
        tier: Tier::Read,
        audience: Audience::Everyone,
    },
    Spec {
        name: "cat",
        args: &[Arg::req("path", Kind::Path, "the file")],
        help: "show a file's content",
        tier: Tier::Read,
        audience: Audience::Everyone,
    },
    Spec {
        name: "write",
        args: &[
            Arg::req("path", Kind::Path, "the file"),
            Arg::req("text", Kind::Text, "the new content"),
        ],
        help: "create a file or replace its content",
        tier: Tier::Write,
        audience: Audience::Everyone,
    },
    Spec {
        name: "append",
        args: &[
            Arg::req("path", Kind::Path, "the file"),
            Arg::req("text", Kind::Text, "the text to add as a new line"),
        ],
        help: "add a line at the end of a file (creating it if needed)",
        tier: Tier::Write,
        audience: Audience::Everyone,
    },
    Spec {
        name: "rm",
        args: &[
            Arg::flag(
                "recursive",
                "-r",
                "also remove a directory and everything in it",
            ),
            Arg::req("path", Kind::Path, "the file or directory"),
        ],
        help: "remove a file or directory",
        tier: Tier::Destructive,
        audience: Audience::Everyone,
    },
    Spec {
        name: "mv",
        args: &[
            Arg::req("from", Kind::Path, "the file or directory to move"),
            Arg::req("to", Kind::Path, "its new path"),
        ],
        help: "move or rename a file or directory",
        tier: Tier::Write,
        audience: Audience::Everyone,
    },
    Spec {
        name: "mkdir",
        args: &[Arg::req("path", Kind::Path, "the new directory")],
        help: "create a directory",
        tier: Tier::Write,
        audience: Audience::Everyone,
    },
    Spec {
        name: "df",
        args: &[],
        help: "disk space: size, used and free",
        tier: Tier::Read,
        audience: Audience::Everyone,
    },
    Spec {
        name: "pwd",
        args: &[],
        help: "the current directory",
        tier: Tier::Read,
        audience: Audience::Everyone,
    },
    Spec {
        name: "ps",
        args: &[],
        help: "list the running jobs with their CPU use",
        tier: Tier::Read,
        audience: Audience::Everyone,
    },
    Spec {
        name: "kill",
        args: &[Arg::req(
            "job",
            Kind::Int { min: 1, max: 65535 },
            "the job's number, as /ps shows it",
        )],
        help: "stop a job",
        tier: Tier::Destructive,
        audience: Audience::Everyone,
    },
    Spec {
        name: "every",
        args: &[
            Arg::req("interval", DELAY, "how often"),
            Arg::req("command", Kind::Command, "the command to run"),
        ],
        help: "run a command repeatedly as a background job",
        tier: Tier::Write,
        audience: Audience::Everyone,
    },
    Spec {
        name: "after",
        args: &[
            Arg::req("delay", DELAY, "how long to wait"),
            Arg::req("command", Kind::Command, "the command to run"),
        ],
        help: "run a command once after a delay",
        tier: Tier::Write,
        audience: Audience::Everyone,
    },
    Spec {
        name: "remind",
        args: &[
            Arg::req("delay", DELAY, "when, from now"),
            Arg::req("text", Kind::Text, "the reminder"),
        ],
        help: "print a reminder on the console after a delay",
        tier: Tier::Write,
        audience: Audience::Everyone,
    },
];

/// The kernel's registry plus the planned commands it does not have yet.
pub fn registry() -> &'static Registry {
    let missing: Vec<Spec> = PLANNED
        .iter()
        .filter(|p| !REGISTRY.all().any(|s| s.name == p.name))
        .copied()
        .collect();
    let missing: &'static [Spec] = Box::leak(missing.into_boxed_slice());
    let mut slices: Vec<&'static [Spec]> =
        model_loader::agent::klib_registry::commands::ALL.to_vec();
    slices.push(missing);
    let slices: &'static [&'static [Spec]] = Box::leak(slices.into_boxed_slice());
    Box::leak(Box::new(Registry::new(slices)))
}

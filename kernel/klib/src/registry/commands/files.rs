//! Files on the data disk (or the RAM disk): ls, cat, write, append, rm,
//! mv, mkdir, df, cd, pwd. Their logic is in the `kfs` crate
//! (`kfs::Session`); the kernel's handlers are in `kernel/src/fs/commands.rs`.

use crate::registry::spec::{Arg, Audience, Kind, Spec, Tier};

pub static FILES: &[Spec] = &[
    Spec {
        name: "ls",
        args: &[Arg::opt(
            "path",
            Kind::Path,
            "the directory (or file) to list; the current directory by default",
        )],
        help: "list the files in a directory: names, sizes, directories marked with /",
        tier: Tier::Read,
        audience: Audience::Everyone,
        aliases: &["dir"],
    },
    Spec {
        name: "cat",
        args: &[Arg::req("path", Kind::Path, "the file to show")],
        help: "show a file (long files truncated with a note; binary files only noted)",
        tier: Tier::Read,
        audience: Audience::Everyone,
        aliases: &["read", "open"],
    },
    Spec {
        name: "write",
        args: &[
            Arg::req("path", Kind::Path, "the file to create or replace"),
            Arg::req("text", Kind::Text, "the file's new content"),
        ],
        help: "create or replace a file with the text, atomically",
        tier: Tier::Write,
        audience: Audience::Everyone,
        aliases: &["save"],
    },
    Spec {
        name: "append",
        args: &[
            Arg::req(
                "path",
                Kind::Path,
                "the file to add to (created if missing)",
            ),
            Arg::req("text", Kind::Text, "the line to add (a newline is added)"),
        ],
        help: "append a line to a file",
        tier: Tier::Write,
        audience: Audience::Everyone,
        aliases: &[],
    },
    Spec {
        name: "rm",
        args: &[
            Arg::flag(
                "recursive",
                "-r",
                "also remove a directory that is not empty, with everything in it",
            ),
            Arg::req("path", Kind::Path, "the file or directory to remove"),
        ],
        help: "remove a file or an empty directory (-r: a directory with its content)",
        tier: Tier::Destructive,
        audience: Audience::Everyone,
        aliases: &["delete", "remove", "del", "erase"],
    },
    Spec {
        name: "mv",
        args: &[
            Arg::req("from", Kind::Path, "the file or directory to move"),
            Arg::req(
                "to",
                Kind::Path,
                "its new path, or an existing directory to move it into",
            ),
        ],
        help: "move or rename a file or directory, atomically (never replaces)",
        tier: Tier::Write,
        audience: Audience::Everyone,
        aliases: &["move", "rename"],
    },
    Spec {
        name: "mkdir",
        args: &[Arg::req("path", Kind::Path, "the directory to create")],
        help: "create a directory",
        tier: Tier::Write,
        audience: Audience::Everyone,
        aliases: &[],
    },
    Spec {
        name: "df",
        args: &[],
        help:
            "free and used space of the filesystem (how full the disk is), and where the files live",
        tier: Tier::Read,
        audience: Audience::Everyone,
        aliases: &["space"],
    },
    Spec {
        name: "cd",
        args: &[Arg::opt(
            "path",
            Kind::Path,
            "the new current directory; / by default",
        )],
        help: "change the current directory (relative paths start there)",
        tier: Tier::Read,
        audience: Audience::Everyone,
        aliases: &[],
    },
    Spec {
        name: "pwd",
        args: &[],
        help: "show the current directory",
        tier: Tier::Read,
        audience: Audience::Everyone,
        aliases: &[],
    },
    Spec {
        name: "test-fs-loop",
        args: &[
            Arg::req(
                "start",
                Kind::Int {
                    min: 1,
                    max: 1 << 40,
                },
                "the number of the first operation",
            ),
            Arg::req(
                "count",
                Kind::Int {
                    min: 1,
                    max: 1 << 40,
                },
                "how many operations to run",
            ),
        ],
        help: "run the crash test's write loop (kfs::crashloop), acknowledging each operation",
        tier: Tier::Write,
        audience: Audience::Test,
        aliases: &[],
    },
    Spec {
        name: "test-fs-bench",
        args: &[Arg::req(
            "kib",
            Kind::Int {
                min: 1,
                max: 64 << 10,
            },
            "size of the file to write and read back, in KiB",
        )],
        help:
            "time writing (committed and flushed) and reading a file of that size (/fs-bench.bin)",
        tier: Tier::Write,
        audience: Audience::Test,
        aliases: &[],
    },
];

//! Console lines and boot command lines as typed by anyone: classifying a
//! line, resolving it against a command table of every argument kind, the
//! chat commands' argument parsers (`/temp`, `/top-p`, `/seed`,
//! `/complete`) and the kernel command line. Errors are messages, never
//! panics; what is accepted is in range.
#![no_main]

use klib::cmdline::BootOptions;
use klib::command::{self, ArgSpec, Command, Input, Resolved};
use libfuzzer_sys::fuzz_target;
use model_loader::conversation::args;

const TABLE: &[Command<u8>] = &[
    Command {
        name: "help",
        args: ArgSpec::None,
        help: "list the commands",
        test_only: false,
        handler: 0,
    },
    Command {
        name: "color",
        args: ArgSpec::OneOf {
            choices: &["on", "off"],
            optional: true,
        },
        help: "plain output",
        test_only: false,
        handler: 1,
    },
    Command {
        name: "test-fault",
        args: ArgSpec::OneOf {
            choices: &["pf", "de", "so"],
            optional: false,
        },
        help: "raise a CPU exception",
        test_only: true,
        handler: 2,
    },
    Command {
        name: "complete",
        args: ArgSpec::Text {
            name: "[-n N] TEXT",
            optional: false,
        },
        help: "raw continuation",
        test_only: false,
        handler: 3,
    },
    Command {
        name: "bench",
        args: ArgSpec::Text {
            name: "P N",
            optional: true,
        },
        help: "time the model",
        test_only: false,
        handler: 4,
    },
];

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let _ = BootOptions::parse(line);
    match command::classify(line) {
        Input::Empty => assert!(line.trim().is_empty()),
        Input::Text(t) => assert!(!t.is_empty() && !t.starts_with('/')),
        Input::Command { name, args: a } => {
            for test_commands in [false, true] {
                match command::resolve(TABLE, name, a, test_commands) {
                    Resolved::Run { command, arg } => {
                        assert_eq!(command.name, name);
                        assert!(test_commands || !command.test_only);
                        assert_eq!(arg.is_some(), !a.is_empty());
                        let _ = command.usage();
                    }
                    Resolved::BadArgs { command } => {
                        let _ = command.usage();
                    }
                    Resolved::Unknown { .. } => {}
                }
            }
            let _ = command::help(TABLE, true);
            match args::complete(a) {
                Ok((n, text)) => {
                    assert!((1..=args::MAX_COMPLETE_TOKENS).contains(&n));
                    assert!(!text.is_empty());
                }
                Err(e) => assert!(!e.is_empty()),
            }
            if let Ok(t) = args::temperature(a) {
                assert!((0.0..=args::MAX_TEMPERATURE).contains(&t));
            }
            if let Ok(p) = args::top_p(a) {
                assert!(p > 0.0 && p <= 1.0);
            }
            let _ = args::seed(a);
        }
    }
});

//! What a command is: its name, typed and named arguments (each with a
//! one-line meaning), a description and a risk tier. Static data, written
//! once in [`super::commands`]; everything else (the parser, `/help`, the
//! model's tool list and decoding grammar) is derived from it.

/// How much harm a command can do. The executor decides from it whether a
/// call proposed by the model must be confirmed by the person.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    /// Looks, changes nothing (ls, cat, ps, mem, date).
    Read,
    /// Creates or changes data (write, append, mkdir, mv, every, remind).
    Write,
    /// Removes data or stops work (rm, kill, format).
    Destructive,
    /// Turns the machine off or restarts it.
    Power,
}

impl Tier {
    pub const ALL: [Tier; 4] = [Tier::Read, Tier::Write, Tier::Destructive, Tier::Power];

    pub fn name(self) -> &'static str {
        match self {
            Tier::Read => "read",
            Tier::Write => "write",
            Tier::Destructive => "destructive",
            Tier::Power => "power",
        }
    }
}

/// Who may use a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    /// The person, and the model as a tool.
    Everyone,
    /// The person only: tuning, benchmarks, diagnostics (not in the
    /// model's tool list).
    Person,
    /// Test builds only (`test` on the kernel command line): hidden from
    /// `/help`, refused otherwise.
    Test,
}

/// The type of an argument's value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    /// A file or directory path: one word (double quotes allow spaces).
    Path,
    /// One word: no spaces (double quotes allow them).
    Word,
    /// Exactly one of the given words.
    Choice(&'static [&'static str]),
    /// A whole number from `min` to `max`.
    Int { min: u64, max: u64 },
    /// A decimal number from `min` to `max`.
    Number { min: f64, max: f64 },
    /// A length of time: a whole number and a unit, `500ms`, `5s`, `2m`,
    /// `1h`; from `min_ms` to `max_ms` milliseconds.
    Duration { min_ms: u64, max_ms: u64 },
    /// A switch, true when given (`-r`); needs [`Arg::switch`].
    Flag,
    /// Free text: the rest of the line as typed. Last argument only.
    Text,
    /// Another command line (`/mem`), run later or repeatedly. Last
    /// argument only.
    Command,
}

impl Kind {
    /// Whether the value takes the rest of the line.
    pub fn is_rest(&self) -> bool {
        matches!(self, Kind::Text | Kind::Command)
    }

    /// A short name of the type, as `/help NAME` shows it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Kind::Path => "path",
            Kind::Word => "word",
            Kind::Choice(_) => "choice",
            Kind::Int { .. } => "integer",
            Kind::Number { .. } => "number",
            Kind::Duration { .. } => "duration",
            Kind::Flag => "flag",
            Kind::Text => "text",
            Kind::Command => "command",
        }
    }
}

/// One argument of a command.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Arg {
    /// The argument's name: in `/help`, in usage lines (`<path>`), and as
    /// the key of the model's JSON arguments. Lower case, `_` between words.
    pub name: &'static str,
    pub kind: Kind,
    /// Whether it must be given.
    pub required: bool,
    /// An option written before the positional arguments (`-n 8`, `-r`);
    /// `None` for a positional argument. Flags always have one.
    pub switch: Option<&'static str>,
    /// One line: what the value means.
    pub help: &'static str,
}

impl Arg {
    /// A required positional argument.
    pub const fn req(name: &'static str, kind: Kind, help: &'static str) -> Arg {
        Arg {
            name,
            kind,
            required: true,
            switch: None,
            help,
        }
    }

    /// An optional positional argument.
    pub const fn opt(name: &'static str, kind: Kind, help: &'static str) -> Arg {
        Arg {
            name,
            kind,
            required: false,
            switch: None,
            help,
        }
    }

    /// A flag (`-r`), false unless given.
    pub const fn flag(name: &'static str, switch: &'static str, help: &'static str) -> Arg {
        Arg {
            name,
            kind: Kind::Flag,
            required: false,
            switch: Some(switch),
            help,
        }
    }

    /// An optional switch with a value (`-n 8`).
    pub const fn option(
        name: &'static str,
        switch: &'static str,
        kind: Kind,
        help: &'static str,
    ) -> Arg {
        Arg {
            name,
            kind,
            required: false,
            switch: Some(switch),
            help,
        }
    }

    /// The argument as a usage line shows it: `<path>`, `[-r]`,
    /// `[-n tokens]`, `[on|off]`.
    pub fn syntax(&self) -> alloc::string::String {
        use alloc::format;
        let inner = match (self.switch, self.kind) {
            (Some(s), Kind::Flag) => alloc::string::String::from(s),
            (Some(s), _) => format!("{s} {}", self.name),
            (None, Kind::Choice(c)) => c.join("|"),
            (None, _) => alloc::string::String::from(self.name),
        };
        if self.required {
            format!("<{inner}>")
        } else {
            format!("[{inner}]")
        }
    }
}

/// One command of the registry.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spec {
    /// The name without the leading `/`.
    pub name: &'static str,
    /// Switches first, then positional arguments; a rest-of-line argument
    /// (text, command) comes last.
    pub args: &'static [Arg],
    /// One line, no trailing period: what the command does.
    pub help: &'static str,
    pub tier: Tier,
    pub audience: Audience,
    /// Other words the model may use as the name in a call (`read` for
    /// `cat`): small models name a tool by the verb of the request. A call
    /// by an alias is a call of the command itself, shown and logged
    /// under its name. Not shown to the person and not typed by them.
    pub aliases: &'static [&'static str],
}

impl Spec {
    /// `/name <syntax>...`.
    pub fn usage(&self) -> alloc::string::String {
        let mut s = alloc::format!("/{}", self.name);
        for a in self.args {
            s.push(' ');
            s.push_str(&a.syntax());
        }
        s
    }

    /// The argument called `name`.
    pub fn arg(&self, name: &str) -> Option<(usize, &'static Arg)> {
        self.args.iter().enumerate().find(|(_, a)| a.name == name)
    }

    /// Whether a model's call may name it `name` (its name or an alias).
    pub fn called(&self, name: &str) -> bool {
        self.name == name || self.aliases.contains(&name)
    }

    /// Whether the model may call it.
    pub fn for_model(&self) -> bool {
        self.audience == Audience::Everyone
    }
}

//! The model as the kernel's operator: the audit log of every command and
//! what the model's last reply was made of.

use crate::registry::spec::{Arg, Audience, Kind, Spec, Tier};

pub static AGENT: &[Spec] = &[
    Spec {
        name: "audit",
        args: &[Arg::opt(
            "count",
            Kind::Int { min: 1, max: 1000 },
            "how many of the last entries (10 by default)",
        )],
        help: "the audit log: every command typed or proposed by the model, and what became of it",
        tier: Tier::Read,
        audience: Audience::Person,
        aliases: &[],
    },
    Spec {
        name: "explain",
        args: &[],
        help: "the model's last reply token by token: probability, alternatives, and for a call what the grammar allowed",
        tier: Tier::Read,
        audience: Audience::Person,
        aliases: &[],
    },
];

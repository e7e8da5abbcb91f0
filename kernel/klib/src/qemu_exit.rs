//! Exit statuses through QEMU's `isa-debug-exit` device, shared by the
//! kernel (which writes them) and the host tools (which read them back).
//!
//! QEMU exits with `(value << 1) | 1`, so a guest can never produce status 0
//! this way; ACPI power-off (S5) is what gives 0.

/// What the kernel reports to the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCode {
    /// Orderly shutdown when ACPI power-off did not work.
    Success,
    /// A CPU exception, a panic or a failed self-check.
    Failure,
}

impl ExitCode {
    /// The value the kernel writes to the port.
    pub const fn value(self) -> u32 {
        match self {
            ExitCode::Success => 0x10,
            ExitCode::Failure => 0x11,
        }
    }

    /// The exit status QEMU then ends with.
    pub const fn qemu_status(self) -> i32 {
        ((self.value() << 1) | 1) as i32
    }

    /// Interprets a QEMU exit status: `Some` for the two statuses above and
    /// for 0 (ACPI power-off, counted as success).
    pub fn from_qemu_status(status: i32) -> Option<ExitCode> {
        if status == 0 || status == ExitCode::Success.qemu_status() {
            Some(ExitCode::Success)
        } else if status == ExitCode::Failure.qemu_status() {
            Some(ExitCode::Failure)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip() {
        assert_eq!(ExitCode::Success.qemu_status(), 33);
        assert_eq!(ExitCode::Failure.qemu_status(), 35);
        assert_eq!(ExitCode::from_qemu_status(0), Some(ExitCode::Success));
        assert_eq!(ExitCode::from_qemu_status(33), Some(ExitCode::Success));
        assert_eq!(ExitCode::from_qemu_status(35), Some(ExitCode::Failure));
        assert_eq!(ExitCode::from_qemu_status(1), None);
        assert_eq!(ExitCode::from_qemu_status(3), None);
    }
}

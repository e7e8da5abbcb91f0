//! Reading the CMOS real-time clock's registers into a date and time
//! (hardware-free: the kernel's driver reads the registers, this converts
//! them: BCD or binary, 12- or 24-hour, two-digit years).

use core::fmt;

/// The clock's registers as read: seconds, minutes, hours, day of month,
/// month, year (two digits), century (0 if the firmware has none), and
/// status register B.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CmosRegisters {
    pub second: u8,
    pub minute: u8,
    pub hour: u8,
    pub day: u8,
    pub month: u8,
    pub year: u8,
    pub century: u8,
    pub status_b: u8,
}

/// A calendar date and time (UTC, as PC clocks are set by QEMU and by
/// most firmware setups for other OSes than Windows).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DateTime {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

fn from_bcd(v: u8) -> u8 {
    (v >> 4) * 10 + (v & 0x0f)
}

impl CmosRegisters {
    /// The date and time, or `None` when the values are not a valid date
    /// (a clock that was never set, or a read torn by an update).
    pub fn decode(&self) -> Option<DateTime> {
        let binary = self.status_b & 0x04 != 0;
        let hours_24 = self.status_b & 0x02 != 0;
        let conv = |v: u8| if binary { v } else { from_bcd(v) };
        let pm = self.hour & 0x80 != 0;
        let mut hour = conv(self.hour & 0x7f);
        if !hours_24 {
            hour %= 12;
            if pm {
                hour += 12;
            }
        }
        let yy = conv(self.year) as u16;
        let year = match conv(self.century) {
            c @ 19..=21 => c as u16 * 100 + yy,
            _ => 2000 + yy,
        };
        let dt = DateTime {
            year,
            month: conv(self.month),
            day: conv(self.day),
            hour,
            minute: conv(self.minute),
            second: conv(self.second),
        };
        dt.is_valid().then_some(dt)
    }
}

fn is_leap(y: u16) -> bool {
    (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400)
}

fn days_in_month(y: u16, m: u8) -> u8 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl DateTime {
    pub fn is_valid(&self) -> bool {
        (1..=12).contains(&self.month)
            && self.day >= 1
            && self.day <= days_in_month(self.year, self.month)
            && self.hour < 24
            && self.minute < 60
            && self.second < 60
    }

    /// Seconds since 1970-01-01 00:00:00 UTC.
    pub fn unix_seconds(&self) -> u64 {
        // Days from civil (Howard Hinnant's algorithm).
        let y = self.year as i64 - (self.month <= 2) as i64;
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = self.month as i64;
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + self.day as i64 - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        (days * 86_400 + self.hour as i64 * 3600 + self.minute as i64 * 60 + self.second as i64)
            .max(0) as u64
    }

    /// The date and time `secs` seconds after this one.
    pub fn plus_seconds(&self, secs: u64) -> DateTime {
        DateTime::from_unix(self.unix_seconds() + secs)
    }

    /// The date and time of a Unix timestamp.
    pub fn from_unix(t: u64) -> DateTime {
        let days = (t / 86_400) as i64;
        let rem = t % 86_400;
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = (yoe + era * 400 + (month <= 2) as i64) as u16;
        DateTime {
            year,
            month,
            day,
            hour: (rem / 3600) as u8,
            minute: (rem / 60 % 60) as u8,
            second: (rem % 60) as u8,
        }
    }

    /// The day of the week, `Monday` to `Sunday`.
    pub fn weekday(&self) -> &'static str {
        const NAMES: [&str; 7] = [
            "Thursday",
            "Friday",
            "Saturday",
            "Sunday",
            "Monday",
            "Tuesday",
            "Wednesday",
        ];
        NAMES[(self.unix_seconds() / 86_400 % 7) as usize]
    }
}

impl fmt::Display for DateTime {
    /// ISO 8601: `2026-12-05 08:30:00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn regs(b: u8, hour: u8) -> CmosRegisters {
        CmosRegisters {
            second: 0x59,
            minute: 0x30,
            hour,
            day: 0x05,
            month: 0x12,
            year: 0x26,
            century: 0x20,
            status_b: b,
        }
    }

    #[test]
    fn bcd_24h() {
        let d = regs(0x02, 0x08).decode().unwrap();
        assert_eq!(d.to_string(), "2026-12-05 08:30:59");
        assert_eq!(d.weekday(), "Saturday");
        assert_eq!(d.unix_seconds(), 1_796_459_459);
        assert_eq!(DateTime::from_unix(d.unix_seconds()), d);
    }

    #[test]
    fn twelve_hour_and_binary() {
        assert_eq!(regs(0x00, 0x80 | 0x12).decode().unwrap().hour, 12);
        assert_eq!(regs(0x00, 0x12).decode().unwrap().hour, 0);
        assert_eq!(regs(0x00, 0x80 | 0x03).decode().unwrap().hour, 15);
        let bin = CmosRegisters {
            second: 7,
            minute: 8,
            hour: 23,
            day: 29,
            month: 2,
            year: 24,
            century: 0,
            status_b: 0x06,
        };
        assert_eq!(bin.decode().unwrap().to_string(), "2024-02-29 23:08:07");
    }

    #[test]
    fn invalid_dates_are_refused() {
        let mut r = regs(0x02, 0x08);
        r.month = 0x13;
        assert_eq!(r.decode(), None);
        r.month = 0x02;
        r.day = 0x30;
        assert_eq!(r.decode(), None);
        r.day = 0x00;
        assert_eq!(r.decode(), None);
    }

    #[test]
    fn unix_round_trips() {
        for t in [0u64, 951_782_400, 1_709_164_800, 4_102_444_799] {
            assert_eq!(DateTime::from_unix(t).unix_seconds(), t);
        }
        assert_eq!(DateTime::from_unix(0).to_string(), "1970-01-01 00:00:00");
    }
}

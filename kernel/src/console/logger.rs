//! Kernel log lines (`log` crate): `[   1.234567] INFO  message`.

use super::style::{paint, Style};
use klib::cmdline::LogLevel;
use log::{Level, LevelFilter, Log, Metadata, Record};

struct Logger;

static LOGGER: Logger = Logger;

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let (name, style) = match record.level() {
            Level::Error => ("ERROR", Style::BoldRed),
            Level::Warn => ("WARN ", Style::Yellow),
            Level::Info => ("INFO ", Style::Green),
            Level::Debug => ("DEBUG", Style::Blue),
            Level::Trace => ("TRACE", Style::Dim),
        };
        let t = crate::time::uptime();
        crate::println!(
            "{} {} {}",
            paint(
                Style::Dim,
                format_args!("[{:4}.{:06}]", t.as_secs(), t.subsec_micros())
            ),
            paint(style, name),
            record.args()
        );
        // A log line is drawn at once: if the boot stops after it, the
        // screen shows it.
        super::screen::flush();
    }

    fn flush(&self) {}
}

pub fn init(level: LogLevel) {
    let _ = log::set_logger(&LOGGER);
    set_level(level);
}

pub fn set_level(level: LogLevel) {
    log::set_max_level(match level {
        LogLevel::Error => LevelFilter::Error,
        LogLevel::Warn => LevelFilter::Warn,
        LogLevel::Info => LevelFilter::Info,
        LogLevel::Debug => LevelFilter::Debug,
        LogLevel::Trace => LevelFilter::Trace,
    });
}

//! COM1: a 16550 UART at I/O port 0x3f8.
//!
//! Output is polled (the `uart_16550` driver, under a spin lock). Input is
//! interrupt driven: the receive interrupt moves bytes from the UART into a
//! lock-free ring, and the console reads them from there. When the ring is
//! full the receive interrupt is switched off until the reader has made
//! room, so bytes wait in the UART (and QEMU holds further ones back): a
//! typed or pasted byte is never dropped.
//!
//! Ctrl-C (0x03) goes into the ring like any byte, so the line editor sees
//! it in order with what was typed before it; it is also counted, so that
//! long-running code can poll for it with [`take_ctrl_c`] without reading
//! the ring. A Ctrl-C taken that way is then skipped by [`read_byte`].

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use klib::ring::ByteRing;
use spin::Mutex;
use uart_16550::backend::PioBackend;
use uart_16550::spec::registers::IER;
use uart_16550::{BaudRate, Config, Uart16550};
use x86_64::instructions::port::Port;

pub const COM1: u16 = 0x3f8;
/// The ISA IRQ line of COM1.
pub const COM1_IRQ: u8 = 4;

const DATA: u16 = COM1;
const IER_PORT: u16 = COM1 + 1;
const LSR: u16 = COM1 + 5;
const LSR_DATA_READY: u8 = 1 << 0;
const LSR_THR_EMPTY: u8 = 1 << 5;
const IER_RX_AVAILABLE: u8 = 1 << 0;

static TX: Mutex<Option<Uart16550<PioBackend>>> = Mutex::new(None);
static RX: ByteRing<4096> = ByteRing::new();
/// Ctrl-Cs received and not yet acted on.
static CTRL_C_PENDING: AtomicUsize = AtomicUsize::new(0);
/// Ctrl-Cs acted on through `take_ctrl_c` whose bytes are still queued.
static CTRL_C_TAKEN: AtomicUsize = AtomicUsize::new(0);
/// When the last Ctrl-C arrived (microseconds of uptime; 0: never).
static CTRL_C_AT_US: AtomicU64 = AtomicU64::new(0);
/// The receive interrupt is switched off because the ring was full.
static RX_THROTTLED: AtomicBool = AtomicBool::new(false);

/// Programs COM1 (115200 8N1, FIFOs on, interrupts off). Output works from
/// here on; input once [`enable_receive_interrupt`] is called and the IRQ is
/// routed.
pub fn init() {
    // SAFETY: COM1 is a standard PC port that nothing else in the kernel
    // drives; its registers lie in 0x3f8..0x400.
    let mut uart = unsafe { Uart16550::new_port(COM1) }.expect("COM1 port range is valid");
    let config = Config {
        baud_rate: BaudRate::Baud115200,
        ..Config::default()
    };
    // A missing UART (some PCs) is no reason to stop: output then goes
    // nowhere, as it would on a disconnected line.
    let _ = uart.init(config);
    *TX.lock() = Some(uart);
}

/// Writes bytes as they are (no newline translation).
pub fn write(bytes: &[u8]) {
    let mut guard = TX.lock();
    match guard.as_mut() {
        Some(uart) => uart.send_bytes_exact(bytes),
        None => write_raw(bytes),
    }
}

/// Writes without taking the lock: for the fatal-error path, which may run
/// while the interrupted code holds it. Output may interleave; it never
/// deadlocks.
pub fn write_raw(bytes: &[u8]) {
    for &b in bytes {
        let mut lsr = Port::<u8>::new(LSR);
        let mut spins = 0u32;
        // SAFETY: reading the line status register has no side effect on
        // transmission; bounded wait in case no UART is present.
        while unsafe { lsr.read() } & LSR_THR_EMPTY == 0 && spins < 100_000 {
            spins += 1;
            core::hint::spin_loop();
        }
        // SAFETY: writing the data register transmits one byte.
        unsafe { Port::<u8>::new(DATA).write(b) };
    }
}

/// Turns on the "received data available" interrupt.
pub fn enable_receive_interrupt() {
    if let Some(uart) = TX.lock().as_mut() {
        uart.enable_interrupts(IER::DATA_READY);
    }
}

/// The receive interrupt handler's work: drain the UART into the ring.
pub fn on_interrupt() {
    drain_uart();
}

fn drain_uart() {
    let mut lsr = Port::<u8>::new(LSR);
    let mut data = Port::<u8>::new(DATA);
    loop {
        if RX.is_full() {
            throttle();
            return;
        }
        // SAFETY: LSR/RBR reads only consume received bytes; this is the
        // only place that reads them (interrupt context or interrupts off).
        if unsafe { lsr.read() } & LSR_DATA_READY == 0 {
            return;
        }
        // SAFETY: as above.
        let byte = unsafe { data.read() };
        if byte == 0x03 {
            let now = crate::time::uptime().as_micros() as u64;
            CTRL_C_AT_US.store(now, Ordering::SeqCst);
            CTRL_C_PENDING.fetch_add(1, Ordering::SeqCst);
        }
        let _ = RX.push(byte);
    }
}

fn throttle() {
    RX_THROTTLED.store(true, Ordering::SeqCst);
    set_rx_interrupt(false);
}

fn set_rx_interrupt(on: bool) {
    let mut ier = Port::<u8>::new(IER_PORT);
    // SAFETY: read-modify-write of IER's receive bit; callers run with
    // interrupts off (handler, or `read_byte` below), so it can't race.
    unsafe {
        let v = ier.read();
        ier.write(if on {
            v | IER_RX_AVAILABLE
        } else {
            v & !IER_RX_AVAILABLE
        });
    }
}

/// Takes the next received byte, if any.
pub fn read_byte() -> Option<u8> {
    let b = loop {
        match RX.pop() {
            Some(0x03) => {
                if decrement(&CTRL_C_TAKEN) {
                    continue; // already acted on through take_ctrl_c
                }
                decrement(&CTRL_C_PENDING);
                break Some(0x03);
            }
            other => break other,
        }
    };
    if RX_THROTTLED.load(Ordering::SeqCst) && RX.len() < RX.capacity() / 2 {
        x86_64::instructions::interrupts::without_interrupts(|| {
            RX_THROTTLED.store(false, Ordering::SeqCst);
            drain_uart();
            if !RX_THROTTLED.load(Ordering::SeqCst) {
                set_rx_interrupt(true);
            }
        });
    }
    b
}

/// The next received byte, left queued (for the console only).
pub fn peek_byte() -> Option<u8> {
    RX.peek()
}

/// Whether received bytes wait to be read.
pub fn pending() -> bool {
    !RX.is_empty()
}

/// Whether a Ctrl-C arrived that nobody has acted on yet; takes it.
pub fn take_ctrl_c() -> bool {
    if decrement(&CTRL_C_PENDING) {
        CTRL_C_TAKEN.fetch_add(1, Ordering::SeqCst);
        true
    } else {
        false
    }
}

/// When the last Ctrl-C arrived on the serial line (microseconds of
/// uptime; 0 if none has).
pub fn last_ctrl_c_us() -> u64 {
    CTRL_C_AT_US.load(Ordering::SeqCst)
}

/// Decrements a counter that is above zero; `false` if it was zero.
fn decrement(counter: &AtomicUsize) -> bool {
    counter
        .try_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

/// Whether the transmit lock is held (the scheduler does not preempt then:
/// `task::sched`).
pub fn lock_held() -> bool {
    TX.is_locked()
}

//! A lock-free single-producer single-consumer byte ring.
//!
//! The serial receive interrupt is the producer and the console reader the
//! consumer: neither ever waits for the other, so the interrupt handler can
//! never deadlock against the code it interrupted.
//!
//! The slots are atomic bytes (plain loads and stores on x86), so the ring
//! needs no `unsafe`: a slot is written by the producer only while it is
//! outside the consumer's window [tail, head) and read by the consumer only
//! while inside it, and the Release/Acquire pairs on `head` and `tail`
//! order those accesses. Misuse (two producers) can lose or repeat bytes,
//! never cause undefined behaviour.

use core::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

/// A ring of `N` bytes (`N` a power of two). `head` and `tail` count bytes
/// pushed and popped since creation and wrap around `usize`.
pub struct ByteRing<const N: usize> {
    buf: [AtomicU8; N],
    /// Bytes pushed so far (written by the producer only).
    head: AtomicUsize,
    /// Bytes popped so far (written by the consumer only).
    tail: AtomicUsize,
}

impl<const N: usize> Default for ByteRing<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> ByteRing<N> {
    const CAPACITY_IS_POWER_OF_TWO: () = assert!(N.is_power_of_two());

    pub const fn new() -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::CAPACITY_IS_POWER_OF_TWO;
        ByteRing {
            buf: [const { AtomicU8::new(0) }; N],
            head: AtomicUsize::new(0),
            tail: AtomicUsize::new(0),
        }
    }

    pub const fn capacity(&self) -> usize {
        N
    }

    /// Number of bytes waiting to be popped.
    pub fn len(&self) -> usize {
        let head = self.head.load(Ordering::Acquire);
        let tail = self.tail.load(Ordering::Acquire);
        head.wrapping_sub(tail)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_full(&self) -> bool {
        self.len() >= N
    }

    /// Producer side: appends `byte`, or gives it back if the ring is full.
    /// Must only be called from one context at a time.
    pub fn push(&self, byte: u8) -> Result<(), u8> {
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Acquire);
        if head.wrapping_sub(tail) >= N {
            return Err(byte);
        }
        // The slot at `head` is outside the consumer's window (the ring is
        // not full); the Release store of `head` publishes it.
        self.buf[head % N].store(byte, Ordering::Relaxed);
        self.head.store(head.wrapping_add(1), Ordering::Release);
        Ok(())
    }

    /// Consumer side: the oldest byte, left in the ring.
    pub fn peek(&self) -> Option<u8> {
        let tail = self.tail.load(Ordering::Relaxed);
        let head = self.head.load(Ordering::Acquire);
        // As in `pop`: the slot is inside the published window.
        (head != tail).then(|| self.buf[tail % N].load(Ordering::Relaxed))
    }

    /// Consumer side: removes the oldest byte. Must only be called from one
    /// context at a time.
    pub fn pop(&self) -> Option<u8> {
        let tail = self.tail.load(Ordering::Relaxed);
        let head = self.head.load(Ordering::Acquire);
        if head == tail {
            return None;
        }
        // The slot at `tail` is inside the window the producer has published
        // (Acquire on head) and will not rewrite until `tail` moves.
        let byte = self.buf[tail % N].load(Ordering::Relaxed);
        self.tail.store(tail.wrapping_add(1), Ordering::Release);
        Some(byte)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::vec::Vec;

    #[test]
    fn fifo_order_and_full_ring() {
        let r = ByteRing::<4>::new();
        assert!(r.is_empty());
        for b in 1..=4 {
            r.push(b).unwrap();
        }
        assert!(r.is_full());
        assert_eq!(r.push(5), Err(5));
        assert_eq!(r.pop(), Some(1));
        r.push(5).unwrap();
        let rest: Vec<u8> = core::iter::from_fn(|| r.pop()).collect();
        assert_eq!(rest, [2, 3, 4, 5]);
        assert_eq!(r.pop(), None);
    }

    #[test]
    fn peek_leaves_the_byte() {
        let r = ByteRing::<4>::new();
        assert_eq!(r.peek(), None);
        r.push(7).unwrap();
        r.push(8).unwrap();
        assert_eq!(r.peek(), Some(7));
        assert_eq!(r.peek(), Some(7));
        assert_eq!(r.pop(), Some(7));
        assert_eq!(r.peek(), Some(8));
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn wraps_many_times() {
        let r = ByteRing::<8>::new();
        for i in 0..10_000u32 {
            r.push(i as u8).unwrap();
            r.push((i >> 8) as u8).unwrap();
            assert_eq!(r.pop(), Some(i as u8));
            assert_eq!(r.pop(), Some((i >> 8) as u8));
        }
    }

    #[test]
    fn two_threads_lose_nothing() {
        let r = Arc::new(ByteRing::<64>::new());
        let producer = {
            let r = r.clone();
            std::thread::spawn(move || {
                for i in 0..200_000u32 {
                    let mut b = i as u8;
                    while let Err(back) = r.push(b) {
                        b = back;
                        std::hint::spin_loop();
                    }
                }
            })
        };
        let mut expected = 0u32;
        while expected < 200_000 {
            if let Some(b) = r.pop() {
                assert_eq!(b, expected as u8);
                expected += 1;
            }
        }
        producer.join().unwrap();
    }
}

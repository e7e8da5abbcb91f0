//! The bookkeeping of the physical frame allocator: one bit per 4 KiB frame,
//! set when the frame is free.
//!
//! Besides single frames it hands out physically contiguous runs with a
//! given alignment (DMA buffers, 2 MiB-aligned runs for huge pages).

/// One bit per frame; bit set = frame free. Frame `i` is the frame at
/// physical address `i * 4096`.
pub struct FrameBitmap<'a> {
    words: &'a mut [u64],
    frames: u64,
    free: u64,
    /// Where the next single-frame search starts (a word index).
    next_word: usize,
}

impl<'a> FrameBitmap<'a> {
    /// Number of `u64` words needed to track `frames` frames.
    pub const fn words_for(frames: u64) -> usize {
        frames.div_ceil(64) as usize
    }

    /// A bitmap over `frames` frames, all marked used.
    pub fn new(words: &'a mut [u64], frames: u64) -> Self {
        assert!(words.len() >= Self::words_for(frames));
        words.fill(0);
        FrameBitmap {
            words,
            frames,
            free: 0,
            next_word: 0,
        }
    }

    /// Frames tracked (free or not).
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Frames currently free.
    pub fn free_frames(&self) -> u64 {
        self.free
    }

    pub fn is_free(&self, frame: u64) -> bool {
        frame < self.frames && self.words[(frame / 64) as usize] & (1 << (frame % 64)) != 0
    }

    /// Marks `[start, start + count)` free (frames past the end are ignored).
    pub fn set_free(&mut self, start: u64, count: u64) {
        let end = start.saturating_add(count).min(self.frames);
        for f in start..end {
            let (w, b) = ((f / 64) as usize, f % 64);
            if self.words[w] & (1 << b) == 0 {
                self.words[w] |= 1 << b;
                self.free += 1;
            }
        }
    }

    /// Marks `[start, start + count)` used (frames past the end are ignored).
    pub fn set_used(&mut self, start: u64, count: u64) {
        let end = start.saturating_add(count).min(self.frames);
        for f in start..end {
            let (w, b) = ((f / 64) as usize, f % 64);
            if self.words[w] & (1 << b) != 0 {
                self.words[w] &= !(1 << b);
                self.free -= 1;
            }
        }
    }

    /// Takes one free frame.
    pub fn alloc_one(&mut self) -> Option<u64> {
        if self.free == 0 {
            return None;
        }
        let n = self.words.len();
        for i in 0..n {
            let w = (self.next_word + i) % n;
            let word = self.words[w];
            if word != 0 {
                let frame = w as u64 * 64 + word.trailing_zeros() as u64;
                if frame >= self.frames {
                    continue;
                }
                self.words[w] &= !(1 << (frame % 64));
                self.free -= 1;
                self.next_word = w;
                return Some(frame);
            }
        }
        None
    }

    /// Takes `count` physically contiguous free frames whose first frame
    /// number is a multiple of `align` (a power of two, in frames). Searches
    /// from the top of memory down, so that low memory (which some devices
    /// need) and single-frame allocations stay apart from big runs.
    pub fn alloc_run(&mut self, count: u64, align: u64) -> Option<u64> {
        assert!(align.is_power_of_two(), "alignment must be a power of two");
        if count == 0 || count > self.free {
            return None;
        }
        if count == 1 && align == 1 {
            return self.alloc_one();
        }
        // Candidate starts, highest first.
        let mut start = self.frames.checked_sub(count)? & !(align - 1);
        loop {
            match self.first_used_in(start, count) {
                None => {
                    self.set_used(start, count);
                    return Some(start);
                }
                Some(used) => {
                    // The run must start above `used`... or end below it:
                    // the next candidate ends at or before `used`.
                    let next = used.checked_sub(count)?;
                    start = next & !(align - 1);
                }
            }
        }
    }

    /// Returns `count` frames starting at `start` to the free pool.
    pub fn free_run(&mut self, start: u64, count: u64) {
        debug_assert!(
            (start..start + count).all(|f| !self.is_free(f)),
            "double free"
        );
        self.set_free(start, count);
    }

    /// The highest used frame in `[start, start + count)`, if any.
    fn first_used_in(&self, start: u64, count: u64) -> Option<u64> {
        let end = start + count;
        let mut f = end;
        while f > start {
            // Whole words at once where aligned.
            if f.is_multiple_of(64) && f - start >= 64 {
                let w = self.words[(f / 64 - 1) as usize];
                if w == u64::MAX {
                    f -= 64;
                    continue;
                }
                return Some((f / 64 - 1) * 64 + 63 - (!w).leading_zeros() as u64);
            }
            f -= 1;
            if !self.is_free(f) {
                return Some(f);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;

    fn bitmap(words: &mut [u64], frames: u64) -> FrameBitmap<'_> {
        FrameBitmap::new(words, frames)
    }

    #[test]
    fn single_frames_come_from_free_ranges_only() {
        let mut w = vec![0; 4];
        let mut b = bitmap(&mut w, 200);
        b.set_free(10, 5);
        b.set_free(100, 3);
        assert_eq!(b.free_frames(), 8);
        let mut got = vec![];
        while let Some(f) = b.alloc_one() {
            got.push(f);
        }
        got.sort();
        assert_eq!(got, [10, 11, 12, 13, 14, 100, 101, 102]);
        assert_eq!(b.free_frames(), 0);
        b.free_run(12, 1);
        assert_eq!(b.alloc_one(), Some(12));
    }

    #[test]
    fn frames_past_the_end_are_never_handed_out() {
        let mut w = vec![u64::MAX; 1];
        let mut b = bitmap(&mut w, 3);
        b.set_free(0, 64);
        assert_eq!(b.free_frames(), 3);
        assert!(b.alloc_one().is_some());
        assert!(b.alloc_one().is_some());
        assert!(b.alloc_one().is_some());
        assert_eq!(b.alloc_one(), None);
    }

    #[test]
    fn aligned_runs_skip_holes() {
        let mut w = vec![0; 32];
        let mut b = bitmap(&mut w, 2048);
        b.set_free(0, 2048);
        b.set_used(1500, 1); // a hole in the aligned block [1024, 1536)
        b.set_used(2000, 1); // a hole in the aligned block [1536, 2048)
        let run = b.alloc_run(512, 512).unwrap();
        assert_eq!(run, 512, "the highest hole-free aligned block");
        for f in 512..1024 {
            assert!(!b.is_free(f));
        }
        assert_eq!(b.free_frames(), 2048 - 2 - 512);
        // The only other hole-free aligned block is [0, 512).
        assert_eq!(b.alloc_run(512, 512), Some(0));
        assert_eq!(b.alloc_run(512, 512), None);
        // Unaligned runs still fit between the holes.
        let r = b.alloc_run(400, 1).unwrap();
        assert!((1024..1500).contains(&r) || (1501..2000).contains(&r) || r > 2000);
        b.free_run(512, 512);
        assert_eq!(b.alloc_run(512, 512), Some(512));
    }

    #[test]
    fn runs_larger_than_memory_fail() {
        let mut w = vec![0; 2];
        let mut b = bitmap(&mut w, 100);
        b.set_free(0, 100);
        assert_eq!(b.alloc_run(101, 1), None);
        assert_eq!(b.alloc_run(100, 1), Some(0));
        assert_eq!(b.alloc_run(1, 1), None);
        assert_eq!(b.alloc_run(0, 1), None);
    }

    #[test]
    fn contiguous_runs_are_really_free_and_disjoint() {
        let mut w = vec![0; 64];
        let mut b = bitmap(&mut w, 4096);
        // Fragment memory: free everything but every 37th frame.
        b.set_free(0, 4096);
        for f in (0..4096).step_by(37) {
            b.set_used(f, 1);
        }
        let mut taken = std::collections::BTreeSet::new();
        while let Some(r) = b.alloc_run(8, 8) {
            assert_eq!(r % 8, 0);
            for f in r..r + 8 {
                assert!(taken.insert(f), "frame {f} handed out twice");
                assert!(f % 37 != 0, "frame {f} was never free");
            }
        }
        // Whatever is left contains no aligned run of 8.
        for start in (0..4096).step_by(8) {
            assert!((start..start + 8).any(|f| !b.is_free(f)));
        }
    }
}

//! [`ThreadTeam`]: the host's fork-join team, one std thread per extra
//! worker (llama.cpp's threadpool is the model). Workers wait for a job by
//! spinning for a short while, then parking; the caller runs worker 0
//! itself and spins (then yields) until the others are done.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, TryLockError};
use std::thread::{self, JoinHandle, Thread};

use super::Team;

/// Spin iterations (each a `spin_loop` hint) before a waiting worker parks
/// or a waiting caller starts yielding its time slice.
const SPINS: u32 = 2000;

/// A job with its lifetime erased; only dereferenced while the `run` call
/// that stored it is waiting for the workers.
type JobPtr = *const (dyn Fn(usize) + Sync + 'static);

struct Shared {
    /// Bumped (Release) once per job, after `job` was stored.
    generation: AtomicUsize,
    job: UnsafeCell<Option<JobPtr>>,
    /// Workers (other than the caller) still running the current job.
    pending: AtomicUsize,
    /// A worker's job panicked (re-raised by `run`).
    panicked: AtomicBool,
    stop: AtomicBool,
}

// SAFETY: `job` is written only by the one `run` call holding `ThreadTeam::
// lock`, while no worker reads it (before the generation bump and after
// every worker decremented `pending`); workers only read it in between.
unsafe impl Sync for Shared {}
// SAFETY: as above; the pointer is only dereferenced under that protocol.
unsafe impl Send for Shared {}

/// A fork-join team of `n` workers: the caller plus `n - 1` threads.
pub struct ThreadTeam {
    shared: Arc<Shared>,
    threads: Vec<Thread>,
    handles: Vec<JoinHandle<()>>,
    /// One job at a time; a nested or concurrent `run` runs serially.
    lock: Mutex<()>,
}

impl ThreadTeam {
    /// A team of `n` workers (`n` is at least 1; the caller is worker 0).
    pub fn new(n: usize) -> std::io::Result<ThreadTeam> {
        let n = n.max(1);
        let shared = Arc::new(Shared {
            generation: AtomicUsize::new(0),
            job: UnsafeCell::new(None),
            pending: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        });
        let mut handles = Vec::with_capacity(n - 1);
        for i in 1..n {
            let sh = Arc::clone(&shared);
            let h = thread::Builder::new()
                .name(format!("team-{i}"))
                .spawn(move || worker(&sh, i));
            match h {
                Ok(h) => handles.push(h),
                Err(e) => {
                    stop(&shared, &handles);
                    for h in handles {
                        let _ = h.join();
                    }
                    return Err(e);
                }
            }
        }
        let threads = handles.iter().map(|h| h.thread().clone()).collect();
        Ok(ThreadTeam {
            shared,
            threads,
            handles,
            lock: Mutex::new(()),
        })
    }

    /// A team of `n` workers that lives for the rest of the process (what a
    /// `Session` takes).
    pub fn leak(n: usize) -> std::io::Result<&'static ThreadTeam> {
        Ok(Box::leak(Box::new(ThreadTeam::new(n)?)))
    }

    /// The number of CPUs this process may use (at least 1): the default
    /// of `--threads`.
    pub fn all_cores() -> usize {
        thread::available_parallelism().map_or(1, |n| n.get())
    }

    /// The team for `--threads N` (`None`: all cores): [`super::SERIAL`]
    /// for one thread, else a leaked `ThreadTeam`. Zero threads is an error.
    pub fn for_threads(threads: Option<usize>) -> Result<&'static dyn Team, String> {
        match threads.unwrap_or_else(ThreadTeam::all_cores) {
            0 => Err("--threads must be at least 1".into()),
            1 => Ok(&super::SERIAL),
            n => ThreadTeam::leak(n)
                .map(|t| t as &'static dyn Team)
                .map_err(|e| format!("cannot start {n} threads: {e}")),
        }
    }
}

fn worker(sh: &Shared, index: usize) {
    let mut seen = 0usize;
    loop {
        let mut spins = 0u32;
        loop {
            let g = sh.generation.load(Ordering::Acquire);
            if sh.stop.load(Ordering::Acquire) {
                return;
            }
            if g != seen {
                seen = g;
                break;
            }
            if spins < SPINS {
                spins += 1;
                core::hint::spin_loop();
            } else {
                thread::park();
            }
        }
        // SAFETY: the generation bump (Acquire above) happened after `run`
        // stored the job, and `run` keeps the job alive and unchanged until
        // this worker has decremented `pending` below.
        let job = unsafe { (*sh.job.get()).expect("a job is set while a generation runs") };
        // SAFETY: see above: the closure outlives this call.
        let r = catch_unwind(AssertUnwindSafe(|| unsafe { (*job)(index) }));
        if r.is_err() {
            sh.panicked.store(true, Ordering::Relaxed);
        }
        sh.pending.fetch_sub(1, Ordering::Release);
    }
}

fn stop(sh: &Shared, handles: &[JoinHandle<()>]) {
    sh.stop.store(true, Ordering::Release);
    for h in handles {
        h.thread().unpark();
    }
}

impl Team for ThreadTeam {
    fn workers(&self) -> usize {
        self.threads.len() + 1
    }

    fn run(&self, job: &(dyn Fn(usize) + Sync)) {
        let n = self.workers();
        let _guard = match self.lock.try_lock() {
            Ok(g) => g,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => {
                // Nested (a job calling `run`) or another thread's job is
                // running: do every worker's part here.
                for i in 0..n {
                    job(i);
                }
                return;
            }
        };
        if n == 1 {
            job(0);
            return;
        }
        let sh = &*self.shared;
        let ptr: *const (dyn Fn(usize) + Sync + '_) = job;
        // SAFETY: only the lifetime is erased; the pointer is dereferenced
        // by workers only before they decrement `pending`, and this call
        // does not return before `pending` is 0.
        let ptr: JobPtr = unsafe { core::mem::transmute(ptr) };
        // SAFETY: no worker reads `job` now (the previous run waited for
        // all of them), and we hold the lock.
        unsafe { *sh.job.get() = Some(ptr) };
        sh.pending.store(n - 1, Ordering::Relaxed);
        sh.generation.fetch_add(1, Ordering::Release);
        for t in &self.threads {
            t.unpark();
        }
        let mine = catch_unwind(AssertUnwindSafe(|| job(0)));
        let mut spins = 0u32;
        while sh.pending.load(Ordering::Acquire) != 0 {
            if spins < SPINS {
                spins += 1;
                core::hint::spin_loop();
            } else {
                thread::yield_now();
            }
        }
        // SAFETY: every worker is done with the job.
        unsafe { *sh.job.get() = None };
        if let Err(p) = mine {
            resume_unwind(p);
        }
        if sh.panicked.swap(false, Ordering::Relaxed) {
            panic!("a worker of the thread team panicked");
        }
    }
}

impl Drop for ThreadTeam {
    fn drop(&mut self) {
        stop(&self.shared, &self.handles);
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::sync::atomic::AtomicU64;

    #[test]
    fn every_worker_runs_once_per_job() {
        for n in 1..=4 {
            let team = ThreadTeam::new(n).unwrap();
            assert_eq!(team.workers(), n);
            let seen: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
            for _ in 0..50 {
                team.run(&|i| {
                    seen[i].fetch_add(1, Ordering::Relaxed);
                });
            }
            assert!(seen.iter().all(|s| s.load(Ordering::Relaxed) == 50));
        }
    }

    /// 10,000 fork-joins, each summing a range split in chunks; the total is
    /// exact, so a lost or doubled chunk, or a join that returns early,
    /// shows.
    #[test]
    fn fork_join_stress_exact_sum() {
        let team = ThreadTeam::new(4).unwrap();
        let total = AtomicU64::new(0);
        let mut want = 0u64;
        let mut buf = vec![0u64; 257];
        for round in 0..10_000u64 {
            super::super::for_each_chunk(&team, &mut buf, 16, &|i, part| {
                for (j, x) in part.iter_mut().enumerate() {
                    *x = round + (i * 16 + j) as u64;
                }
            });
            // The join must have completed every chunk before we read.
            let s: u64 = buf.iter().sum();
            want += 257 * round + 256 * 257 / 2;
            total.fetch_add(s, Ordering::Relaxed);
        }
        assert_eq!(total.load(Ordering::Relaxed), want);
    }

    #[test]
    fn threads_option() {
        assert!(ThreadTeam::for_threads(Some(0)).is_err());
        assert_eq!(ThreadTeam::for_threads(Some(1)).unwrap().workers(), 1);
        assert_eq!(ThreadTeam::for_threads(Some(3)).unwrap().workers(), 3);
        assert_eq!(
            ThreadTeam::for_threads(None).unwrap().workers(),
            ThreadTeam::all_cores()
        );
    }

    #[test]
    fn nested_runs_and_panics_do_not_hang() {
        let team = ThreadTeam::new(3).unwrap();
        let count = AtomicUsize::new(0);
        team.run(&|_| {
            team.run(&|_| {
                count.fetch_add(1, Ordering::Relaxed);
            });
        });
        assert_eq!(count.load(Ordering::Relaxed), 9);
        let r = catch_unwind(AssertUnwindSafe(|| {
            team.run(&|i| {
                if i == 2 {
                    panic!("worker 2 fails");
                }
            })
        }));
        assert!(r.is_err());
        // The team still works afterwards.
        let c = AtomicUsize::new(0);
        team.run(&|_| {
            c.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(c.load(Ordering::Relaxed), 3);
    }
}

//! The model's turn: the engine has one context, so the console's messages
//! and model commands, the jobs' model commands and the steps of a
//! background request (`/bg`, `task::bg`) take turns.
//!
//! - The console and jobs take the turn for a whole message or command,
//!   each waiting (asleep) while another holds it.
//! - A background request takes it for one step at a time (a prefill
//!   batch or a token), never while the console or a job waits, and a
//!   step in progress gives way at its next layer when one starts waiting
//!   ([`turn_wanted`]).
//! - While the console's (or a job's) reply streams, its holder lends the
//!   turn to a waiting background request for one step after every
//!   [`TOKENS_PER_LENT_STEP`] tokens ([`lend_turn`], called between
//!   tokens), then takes it back: the two interleave token by token, the
//!   foreground keeping most of the tokens.
//! - While the console holds the turn but waits for a line (the person
//!   deciding a `[y/N]`), it lends the turn step after step
//!   ([`lend_turn_at_prompt`]); a lent step gives way as soon as a key
//!   arrives ([`turn_wanted`]).
//! - While the console waits for a line at its own prompt and nobody else
//!   wants the model, it reads the message being typed ahead, one step at
//!   a time ([`idle_turn`]); such a step gives way to any other taker, and
//!   to a key that does more than edit the line
//!   (`console::keys_while_reading_ahead`).

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, AtomicUsize, Ordering};

/// Who has the model's turn (0: nobody).
static MODEL_TURN: AtomicU8 = AtomicU8::new(0);
/// How many takers other than background requests wait for the turn: a
/// background request does not take it while any does (see [`model_turn`]).
static WAITING: AtomicUsize = AtomicUsize::new(0);
/// The task of the background request waiting for the turn (0: none).
static BACKGROUND_WAITING: AtomicU32 = AtomicU32::new(0);
/// Who lent the turn to a background step and gets it back after it (a
/// [`Turn`] as `u8`; 0: the turn is not lent).
static LENT_BY: AtomicU8 = AtomicU8::new(0);

/// A reply's tokens per background step lent between them: the foreground
/// keeps four fifths of the model's steps while a request runs.
pub const TOKENS_PER_LENT_STEP: u32 = 4;

/// Who takes the model's turn.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Turn {
    /// The console, for a message to the model or a model command.
    Console = 1,
    /// A job running a model command.
    Job = 2,
    /// One step (a prefill batch or a token) of a background request
    /// (`/bg`, `task::bg`): it comes last.
    Background = 3,
}

/// How often (ticks) a background request waiting for the turn looks again:
/// rarely, so that it costs a console reply almost no switches (a lent
/// turn wakes it).
const BACKGROUND_POLL_TICKS: u64 = 10;

/// Set while the console, waiting for a line, has lent its turn.
static LENT_AT_PROMPT: AtomicBool = AtomicBool::new(false);
/// Steps lent while the console waited for a line, ever.
static PROMPT_STEPS: AtomicU32 = AtomicU32::new(0);

/// How many background steps the console has lent while it waited for a
/// line ([`lend_turn_at_prompt`]), since boot.
pub fn steps_lent_at_prompt() -> u32 {
    PROMPT_STEPS.load(Ordering::Relaxed)
}

/// Whether the console or a job waits for the model's turn, or the
/// console, which lent its turn while it waited for a line, has a key to
/// read (a background step in progress then gives way: `task::bg`).
pub fn turn_wanted() -> bool {
    WAITING.load(Ordering::Acquire) > 0
        || (LENT_AT_PROMPT.load(Ordering::Acquire) && crate::console::key_pending())
}

/// Whether another taker than the console waits for the model's turn.
pub fn others_wait() -> bool {
    WAITING.load(Ordering::Acquire) > 0 || BACKGROUND_WAITING.load(Ordering::Acquire) != 0
}

/// For the console at its prompt: runs `f` with the model's turn if nobody
/// holds it and nobody waits for it (the least urgent work there is);
/// `None` if it did not.
pub fn idle_turn<R>(f: impl FnOnce() -> R) -> Option<R> {
    if others_wait()
        || MODEL_TURN
            .compare_exchange(0, Turn::Console as u8, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
    {
        return None;
    }
    let r = f();
    MODEL_TURN.store(0, Ordering::Release);
    Some(r)
}

/// For the console waiting for a line (a confirmation) while it holds the
/// model's turn: lends the turn to a waiting background request for one
/// step, which gives way when a key arrives. Returns whether a step was
/// taken (false: the console does not hold the turn, or none waits).
pub fn lend_turn_at_prompt() -> bool {
    if MODEL_TURN.load(Ordering::Acquire) != Turn::Console as u8 {
        return false;
    }
    LENT_AT_PROMPT.store(true, Ordering::Release);
    let stepped = lend_turn();
    LENT_AT_PROMPT.store(false, Ordering::Release);
    if stepped {
        PROMPT_STEPS.fetch_add(1, Ordering::Relaxed);
    }
    stepped
}

/// Runs `f` with the model's turn (see the module documentation). A job
/// or background request that is killed while waiting gives up (`None`).
///
/// Background requests come last: one never takes the turn while another
/// taker waits, and it holds the turn for one step only, then wakes the
/// console if that waits. So the console waits at most one background step
/// for its turn, and a background request waits for every console reply
/// except for the steps lent to it ([`lend_turn`]).
pub fn model_turn<R>(who: Turn, f: impl FnOnce() -> R) -> Option<R> {
    let urgent = who != Turn::Background;
    if urgent {
        WAITING.fetch_add(1, Ordering::AcqRel);
    } else {
        BACKGROUND_WAITING.store(crate::task::sched::current_id(), Ordering::Release);
    }
    let stop_waiting = || {
        if urgent {
            WAITING.fetch_sub(1, Ordering::AcqRel);
        } else {
            BACKGROUND_WAITING.store(0, Ordering::Release);
        }
    };
    let mut lent = false;
    loop {
        // A lent turn is taken even when killed: the step then stops at
        // once and the turn goes back to its lender.
        if !urgent
            && LENT_BY.load(Ordering::Acquire) != 0
            && MODEL_TURN.load(Ordering::Acquire) == Turn::Background as u8
        {
            lent = true;
            break;
        }
        let may = urgent || WAITING.load(Ordering::Acquire) == 0;
        if may
            && MODEL_TURN
                .compare_exchange(0, who as u8, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            break;
        }
        if who != Turn::Console && crate::task::sched::killed() {
            stop_waiting();
            return None;
        }
        // A background request polls less often (a kill or a lent turn
        // wakes it).
        crate::task::sched::sleep_ticks(if urgent { 1 } else { BACKGROUND_POLL_TICKS });
    }
    stop_waiting();
    let r = f();
    if lent {
        give_back();
    } else {
        MODEL_TURN.store(0, Ordering::Release);
        if !urgent && WAITING.load(Ordering::Acquire) > 0 {
            crate::task::sched::wake_console();
        }
    }
    Some(r)
}

/// The lent turn goes back to its lender.
fn give_back() {
    let by = LENT_BY.swap(0, Ordering::AcqRel);
    MODEL_TURN.store(by, Ordering::Release);
    if by == Turn::Console as u8 {
        crate::task::sched::wake_console();
    }
}

/// Lends the model's turn, held by the caller between two tokens of its
/// reply, to a waiting background request for one step, and waits until
/// it is back. Returns whether the request took a step (false: none
/// waits, or it ended without taking the turn).
pub fn lend_turn() -> bool {
    let holder = MODEL_TURN.load(Ordering::Acquire);
    let task = BACKGROUND_WAITING.load(Ordering::Acquire);
    if task == 0
        || (holder != Turn::Console as u8 && holder != Turn::Job as u8)
        || WAITING.load(Ordering::Acquire) > 0
    {
        return false;
    }
    LENT_BY.store(holder, Ordering::Release);
    MODEL_TURN.store(Turn::Background as u8, Ordering::Release);
    crate::task::sched::wake(task);
    while MODEL_TURN.load(Ordering::Acquire) != holder {
        // The request ended without taking it (it was killed while
        // asleep, or failed): take the turn back.
        if !crate::task::sched::alive(task)
            && MODEL_TURN
                .compare_exchange(
                    Turn::Background as u8,
                    holder,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
        {
            LENT_BY.store(0, Ordering::Release);
            return false;
        }
        crate::task::sched::sleep_ticks(1);
    }
    true
}

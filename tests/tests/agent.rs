//! The model drives the kernel, end to end with the default model
//! (Qwen2.5-Coder, whose pack carries the system prompt with the tools),
//! on a data disk so that file effects are real. One machine (2 vCPUs)
//! takes every request, and each effect is checked afterwards with the
//! person's own commands:
//! - a question about the machine runs `/date` and is answered in a
//!   sentence that uses the result, to the end of the message;
//! - the model's own `/model` call runs while it is answering;
//! - a note is written and then found by `/cat`;
//! - a reminder is set and fires;
//! - `rm` asks: "n" keeps the file, "y" deletes it (the first time typed
//!   key by key, as a person types, so that the kernel reads the message
//!   ahead: the same call, sooner);
//! - shutdown asks: "n" keeps the machine running;
//! - a plain question and a greeting make no call;
//! - `/audit` and the log file on the disk hold every step, hash-chained.
//!
//! The requests are worded as a person would; `/reset` between them
//! starts each from the system prompt, as `cargo xtask eval agent` does
//! (try a wording there first: `--set FILE`). The backend is pinned to
//! `tcg` (the one the kernel picks under TCG), so the greedy call does not
//! depend on a timing pick. Weights are read at boot (eager), so that
//! the request timings do not include reading the disk.
//!
//! After a result the model answers in a sentence (the tool-response turn
//! asks for one, and a repeat of the call is chosen again as an answer;
//! `cargo xtask eval agent --follow`), sometimes after a different second
//! call. The first request runs to its end; the others are ended with
//! Ctrl-C once their first call's effect is seen (or their question
//! answered), which keeps the test short and checks that Ctrl-C cancels a
//! request (or does nothing harmful at the prompt when the message has
//! ended); the first call and its effect are checked.

mod common;

use common::{bg_task_of, config, data_image, line_with, number_after, open_image, NEEDS_IMAGES};
use klib::qemu_exit::ExitCode;
use qemu_tests::images::{env_path, QWEN_PACK_ENV};
use qemu_tests::machine::COMMAND_TIMEOUT;
use qemu_tests::{Firmware, Machine, PROMPT};
use std::time::Duration;

/// One request: prefill of the message, a call, its result and a reply.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(600);
/// A reminder set for 30 s fires within this after the request ended.
const REMINDER_TIMEOUT: Duration = Duration::from_secs(120);

/// The seconds from Enter to the call shown in `out` (`→ /cmd (12.3 s)`).
fn call_latency(out: &str) -> Option<f64> {
    let line = out.lines().find(|l| l.contains('\u{2192}'))?;
    let inner = line.rsplit_once('(')?.1.strip_suffix(" s)")?;
    inner.trim().parse().ok()
}

/// Ctrl-C: ends the request (the model goes on proposing calls after a
/// result; see the module docs) and waits for the prompt.
fn cancel(m: &mut Machine) -> String {
    m.send(b"\x03");
    m.answer(REQUEST_TIMEOUT)
}

/// Types `request` as a person does, key by key with a pause before Enter
/// (the kernel reads the message ahead meanwhile), or sends it at once.
fn send_request(m: &mut Machine, request: &str, typed: bool) {
    if typed {
        for b in request.bytes() {
            m.send(&[b]);
            std::thread::sleep(Duration::from_millis(120));
        }
        std::thread::sleep(Duration::from_secs(4));
    } else {
        m.send(request.as_bytes());
    }
    m.send(b"\r");
}

/// "What time is it?": `/date` runs without asking, then the model answers
/// in a sentence that uses the result (a word or number of the date line),
/// and the message ends by itself.
fn answered(m: &mut Machine) {
    send_request(m, "What time is it?", false);
    let shown = m.wait_for(" UTC (", REQUEST_TIMEOUT);
    let t0 = std::time::Instant::now();
    let rest = m.wait_for(PROMPT, REQUEST_TIMEOUT);
    let answer_s = t0.elapsed().as_secs_f64();
    let out = format!("{shown}{rest}");
    assert_eq!(out.matches('\u{2192}').count(), 1, "{out}");
    assert!(out.contains("\u{2192} /date ("), "{out}");
    assert!(!out.contains("[y/N]") && !out.contains("not run"), "{out}");
    let date = line_with(&out, " UTC (");
    let after = &out[out.find(date).unwrap() + date.len()..];
    let answer: Vec<&str> = after
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.contains("tok/s"))
        .collect();
    let answer = answer.join(" ");
    eprintln!(
        "agent: \"What time is it?\" -> /date -> {answer:?}, {answer_s:.1} s after the result"
    );
    let words = |s: &str| -> Vec<String> {
        s.split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| w.len() >= 2)
            .map(str::to_lowercase)
            .collect()
    };
    let said = words(&answer);
    assert!(said.len() >= 3, "no sentence after the result:\n{out}");
    assert!(
        words(date).iter().any(|w| said.contains(w)),
        "the answer uses nothing of {date:?}:\n{out}"
    );
}

/// Sends `request`, which must first propose `call` and run it without
/// asking; waits for `effect` (its output), then ends the request.
fn runs(m: &mut Machine, request: &str, call: &str, effect: &str) -> String {
    m.send(request.as_bytes());
    m.send(b"\r");
    let shown = m.wait_for(&format!("\u{2192} {call}"), REQUEST_TIMEOUT);
    let out = m.wait_for(effect, REQUEST_TIMEOUT);
    let all = format!("{shown}{out}");
    assert_eq!(all.matches('\u{2192}').count(), 1, "{all}");
    assert!(!all.contains("[y/N]"), "{all}");
    eprintln!(
        "agent: {request:?} -> {call}: shown {:?} s after Enter",
        call_latency(&all)
    );
    format!("{all}{}", cancel(m))
}

/// Sends `request`, which must first propose one of `calls` (the same
/// effect written in different ways) and ask `[y/N]`; answers `answer`
/// (and ends the request). Returns the call proposed and the output.
fn confirm(m: &mut Machine, request: &str, calls: &[&str], answer: &str) -> (String, String) {
    confirm_after(m, request, calls, answer, Duration::ZERO, false)
}

/// [`confirm`], answering after `decide`; the request `typed` key by key
/// ([`send_request`]).
fn confirm_after(
    m: &mut Machine,
    request: &str,
    calls: &[&str],
    answer: &str,
    decide: Duration,
    typed: bool,
) -> (String, String) {
    send_request(m, request, typed);
    let asked = m.wait_for("[y/N]", REQUEST_TIMEOUT);
    let call = calls
        .iter()
        .find(|c| asked.contains(&format!("\u{2192} {c} (")))
        .unwrap_or_else(|| panic!("none of {calls:?} proposed:\n{asked}"));
    assert_eq!(asked.matches('\u{2192}').count(), 1, "{asked}");
    eprintln!(
        "agent: {request:?}{} -> {call}: shown {:?} s after Enter",
        if typed { " (typed)" } else { "" },
        call_latency(&asked)
    );
    std::thread::sleep(decide);
    m.send(answer.as_bytes());
    m.send(b"\r");
    // What the call printed (if it ran) comes before the next reply.
    let out = m.wait_for("\n", COMMAND_TIMEOUT);
    (call.to_string(), format!("{asked}{out}{}", cancel(m)))
}

#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn the_model_drives_files_jobs_and_power_with_confirmation_and_audit() {
    let _ = NEEDS_IMAGES;
    let img = data_image("agent-qwen", 4 << 20, &[("/old.txt", b"old draft\n")]);
    let cfg = config(Firmware::Bios, 2048)
        .smp(2)
        .disk(&img)
        .disk_with(env_path(QWEN_PACK_ENV), "readonly=on", "")
        .cmdline("test color=off backend=tcg");
    let mut m = Machine::boot_to_prompt("agent-qwen", &cfg);
    let boot = m.text();
    assert!(boot.contains("ready: qwen"), "{boot}");
    assert!(boot.contains("tools:"), "{boot}");
    // The pack's system prompt (with the tools) was restored, not computed.
    let model = m.command("/model");
    assert!(model.contains("restored from the model pack"), "{model}");
    // So was the name prior measured for it (not measured at boot).
    assert!(boot.contains("name prior from the pack"), "{boot}");

    // A question about the machine: the call, its result, and the model's
    // sentence about it, to the end of the message (no Ctrl-C).
    answered(&mut m);

    // The model's own `/model` call runs, though the model is busy
    // answering: it gets the report kept as the message began.
    m.command("/reset");
    let out = runs(
        &mut m,
        "What model is loaded and how much memory does it use?",
        "/model",
        "memory:   ",
    );
    assert!(out.contains("model:    qwen"), "{out}");
    assert!(!out.contains("busy"), "{out}");

    // A note: written without asking (a new file), then found by /cat.
    m.command("/reset");
    runs(
        &mut m,
        "Write 'buy milk' to shopping.txt",
        "/write shopping.txt buy milk",
        "wrote 9 bytes to /shopping.txt",
    );
    let cat = m.command("/cat shopping.txt");
    assert!(cat.contains("buy milk"), "{cat}");

    // A reminder: set, then it fires.
    m.command("/reset");
    runs(
        &mut m,
        "remind me in 30 seconds to look at the tea",
        // The text in the person's words, whatever the model wrote.
        "/remind 30s look at the tea",
        "reminder 1 in 30s",
    );
    m.wait_for("[reminder 1] ", REMINDER_TIMEOUT);
    let line = m.wait_for("\n", COMMAND_TIMEOUT);
    assert!(line.to_lowercase().contains("look at the tea"), "{line}");

    // rm asks; "n" keeps the file, "y" deletes it.
    m.command("/reset");
    // The model may add -r: for a file it makes no difference.
    let rm = ["/rm old.txt", "/rm -r old.txt"];
    // Typed as a person types: read ahead, the same call.
    let (rm_declined, out) = confirm_after(
        &mut m,
        "Remove the file old.txt",
        &rm,
        "n",
        Duration::ZERO,
        true,
    );
    // The keys typed while it read were echoed as typed.
    line_with(&out, "Remove the file old.txt");
    let stats = m.command("/stats");
    let ahead = line_with(&stats, "read ahead while typing");
    eprintln!("agent: {ahead}");
    let n: u32 = number_after(ahead, "(and ");
    assert!(n >= 4, "{ahead}");
    let cat = m.command("/cat old.txt");
    assert!(cat.contains("old draft"), "declined, yet:\n{cat}");
    m.command("/reset");
    let (rm_confirmed, _) = confirm(&mut m, "Remove the file old.txt", &rm, "y");
    let ls = m.command("/ls /");
    assert!(
        !ls.contains("old.txt") && ls.contains("shopping.txt"),
        "{ls}"
    );

    // Power asks; "n" keeps the machine running. A background request
    // takes steps while the person decides (the console holds the model's
    // turn then, and lends it).
    m.command("/reset");
    let bg = bg_task_of(&m.command("/bg -n 400 Write a long story about a cat who learns to fly."));
    let from = m.text().len();
    let (_, out) = confirm_after(
        &mut m,
        "Please shut down the computer",
        &["/shutdown"],
        "n",
        Duration::from_secs(10),
        false,
    );
    assert!(
        m.poll_exit().is_none(),
        "the machine stopped after 'n':\n{out}"
    );
    let text = m.text();
    let lent = line_with(&text[from..], "steps while you decided");
    eprintln!("agent: {lent}");
    let steps: u32 = number_after(lent, "took ");
    assert!(steps >= 1, "{lent}");
    let killed = m.command(&format!("/kill t{bg}"));
    assert!(killed.contains(&format!("killed task t{bg}")), "{killed}");
    // Its last word comes above the prompt, then the prompt again.
    m.wait_for(&format!("bg t{bg} stopped by /kill"), REQUEST_TIMEOUT);
    m.wait_for(PROMPT, REQUEST_TIMEOUT);
    let up = m.command("/uptime");
    assert!(up.contains("up"), "{up}");

    // A plain question: an answer, no call.
    m.command("/reset");
    let out = m.command_with_timeout("What is the capital of France?", REQUEST_TIMEOUT);
    assert!(!out.contains('\u{2192}') && !out.contains(" call"), "{out}");
    assert!(out.contains("s in all"), "{out}");
    // A greeting: without the name prior Qwen opens a call here and the
    // first tool in the list, `mem`, gets it.
    m.command("/reset");
    let out = m.command_with_timeout("Hi!", REQUEST_TIMEOUT);
    assert!(!out.contains('\u{2192}') && !out.contains(" call"), "{out}");
    assert!(out.contains("s in all"), "{out}");

    // The audit log: every step of the model and of the person, in order,
    // hash chain intact.
    let audit = m.command("/audit 40");
    assert!(audit.contains("hash chain intact"), "{audit}");
    let steps = [
        "\"command\": \"/write shopping.txt buy milk\", \"tier\": \"write\", \"decision\": \"ran\"".to_string(),
        "\"raw\": \"/cat shopping.txt\"".to_string(),
        "\"command\": \"/remind 30s ".to_string(),
        format!("\"command\": \"{rm_declined}\", \"tier\": \"destructive\", \"decision\": \"declined\""),
        "\"raw\": \"/cat old.txt\"".to_string(),
        format!("\"command\": \"{rm_confirmed}\", \"tier\": \"destructive\", \"decision\": \"confirmed\""),
        "\"command\": \"/shutdown\", \"tier\": \"power\", \"decision\": \"declined\"".to_string(),
        "\"raw\": \"/uptime\"".to_string(),
    ];
    let mut at = 0;
    for step in &steps {
        match audit[at..].find(step) {
            Some(i) => at += i + step.len(),
            None => panic!("{step} not (in order) in:\n{audit}"),
        }
    }

    // /explain shows the last reply's tokens, and why "Hi!" made no call.
    let explain = m.command("/explain");
    assert!(explain.contains("p="), "{explain}");
    assert!(explain.contains("call name candidates"), "{explain}");
    assert!(explain.contains("the call was dropped"), "{explain}");

    m.send(b"/shutdown\r");
    m.expect_exit(ExitCode::Success, COMMAND_TIMEOUT);

    // The log file on the data disk holds the same steps, chained.
    let mut fs = open_image(&img);
    let log = String::from_utf8(fs.read_all("/log/audit.log").unwrap()).unwrap();
    model_loader::agent::audit::verify(&log).expect("the audit chain holds");
    let mut at = 0;
    for step in &steps {
        match log[at..].find(step) {
            Some(i) => at += i + step.len(),
            None => panic!("{step} not (in order) in:\n{log}"),
        }
    }
    assert!(
        log.contains("\"origin\": \"model\""),
        "no model entry in:\n{log}"
    );
}

//! Background model requests (`/bg`) on SmolLM2: a request runs in a task
//! with its own KV cache while a foreground message is answered, prints
//! its answer above the prompt and writes it to `/bg/N.txt`; `/ps` lists
//! it; a foreground reply lends it steps between its tokens; `/kill tN`
//! stops one within a second.

mod common;

use common::{bg_task_of as task_of, config, line_with, number_after};
use qemu_tests::images::{env_path, SMOLLM2_PACK_ENV};
use qemu_tests::{Firmware, Machine, PROMPT};
use std::time::{Duration, Instant};

/// Generous: the machine is shared and QEMU runs under TCG.
const TIMEOUT: Duration = Duration::from_secs(240);

/// The seconds in `first token after X s`.
fn first_token_s(reply: &str) -> f64 {
    let line = line_with(reply, "first token after");
    number_after(line, "first token after ")
}

/// Waits until the whole output from byte `from` on contains `needle`
/// (wherever the console printed it: above a prompt, inside a command's
/// output); returns where it starts.
fn wait_in_text(m: &mut Machine, from: usize, needle: &str) -> usize {
    let end = Instant::now() + TIMEOUT;
    loop {
        let text = m.text();
        if let Some(i) = text.get(from..).and_then(|t| t.find(needle)) {
            return from + i;
        }
        if Instant::now() > end {
            m.fail(&format!("no {needle:?} within {TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Moves the reading position past everything printed so far (messages
/// printed above the prompt included).
fn sync(m: &mut Machine, n: u32) {
    m.send(format!("/echo sync{n}\r").as_bytes());
    m.wait_for(&format!("\nsync{n}\n"), TIMEOUT);
    m.wait_for(PROMPT, TIMEOUT);
}

/// The `/ps` row of task `id`, if listed.
fn ps_row(ps: &str, id: u32) -> Option<String> {
    let name = format!("t{id} ");
    ps.lines()
        .find(|l| l.starts_with(&name))
        .map(str::to_string)
}

#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn bg_request_finishes_beside_a_foreground_reply_and_is_killed_quickly() {
    let cfg = config(Firmware::Bios, 1024).smp(2).disk_with(
        env_path(SMOLLM2_PACK_ENV),
        "readonly=on",
        "",
    );
    let mut m = Machine::boot_to_prompt("bg", &cfg);
    assert!(m.text().contains("ready: smollm2"), "{}", m.text());

    for (line, why) in [
        ("/bg", "missing <text>"),
        ("/bg -n 0 hi", "-n"),
        ("/bg -n 5000 hi", "-n"),
    ] {
        let out = m.command(line);
        assert!(
            out.contains("error:") && out.contains(why),
            "{line}: expected an error saying {why:?}, got:\n{out}"
        );
    }

    // A foreground message alone, for the first-token figure.
    const MESSAGE: &str = "Say hello.";
    let alone = m.command_with_timeout(MESSAGE, TIMEOUT);
    let t_alone = first_token_s(&alone);
    m.command("/reset");

    // A background request; /ps lists it (its memory includes the KV
    // cache); a second one is refused while it runs.
    let out = m.command("/bg -n 24 What is the capital of France?");
    let id = task_of(&out);
    let ps = m.command("/ps");
    let row = ps_row(&ps, id).unwrap_or_else(|| panic!("/ps does not list t{id}:\n{ps}"));
    assert!(row.contains("background request (/bg)"), "{row}");
    let mem: u64 = row
        .split_whitespace()
        .last()
        .and_then(|k| k.strip_suffix('K'))
        .and_then(|k| k.parse().ok())
        .unwrap_or_else(|| panic!("no memory in {row:?}"));
    assert!(mem > 1024, "t{id} shows {mem}K: no KV cache counted\n{ps}");
    let out = m.command("/bg -n 4 Hi");
    assert!(
        out.contains("error:") && out.contains(&format!("already running (t{id})")),
        "{out}"
    );

    // A foreground message while it runs: the reply streams and completes.
    let sent_at = m.text().len();
    let reply = m.command_with_timeout(MESSAGE, TIMEOUT);
    assert!(reply.contains("tok/s"), "no complete reply:\n{reply}");
    let t_beside = first_token_s(&reply);
    eprintln!("first token: {t_alone:.1} s alone, {t_beside:.1} s with a /bg request running");

    // Then the request finishes: its answer above the prompt and in its
    // file, the same text.
    let done = format!("bg t{id} done: ");
    let at = wait_in_text(&mut m, sent_at, &done);
    wait_in_text(&mut m, at, "]\n");
    let after = m.text()[at..].to_string();
    let (shown, rest) = after[done.len()..].split_once('\n').unwrap();
    let path = format!("/bg/{id}.txt");
    let info = rest.lines().next().unwrap_or("");
    assert!(
        info.contains(&format!("the whole answer is in {path}")),
        "{after}"
    );
    sync(&mut m, 1);
    let shown = shown.trim_end();
    assert!(
        !shown.is_empty() && shown != "(an empty answer)",
        "{shown:?}"
    );
    let file = m.command(&format!("/cat {path}"));
    let first = file.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let shown_text = shown.strip_suffix('…').unwrap_or(shown);
    assert!(
        first.starts_with(shown_text),
        "{path} does not hold the printed answer {shown:?}:\n{file}"
    );
    let ps = m.command("/ps");
    assert!(ps_row(&ps, id).is_none(), "t{id} still listed:\n{ps}");

    // A long request, killed while it runs: it stops within a second and
    // is gone from /ps.
    let out = m.command("/bg -n 400 Write a long story about a cat who learns to fly.");
    let id = task_of(&out);
    std::thread::sleep(Duration::from_secs(3));
    let ps = m.command("/ps");
    assert!(ps_row(&ps, id).is_some(), "t{id} not listed:\n{ps}");
    // A foreground reply meanwhile lends it a step every few tokens (the
    // two interleave; with strict priority the count would be 0).
    let reply = m.command_with_timeout("Count from 1 to 20.", TIMEOUT);
    let stats = line_with(&reply, "tok/s");
    let lent: u32 = stats
        .split(" background steps in between")
        .next()
        .filter(|before| before.len() < stats.len())
        .and_then(|before| before.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no background steps lent during the reply: {stats:?}"));
    eprintln!("a foreground reply beside a /bg request: {stats}");
    assert!(lent >= 1, "{stats}");
    let t0 = Instant::now();
    let out = m.command(&format!("/kill t{id}"));
    let host_s = t0.elapsed().as_secs_f64();
    let line = line_with(&out, &format!("killed task t{id} (bg): it ended "));
    let ms: f64 = number_after(line, "it ended ");
    eprintln!("/kill t{id}: ended {ms} ms after /kill ({host_s:.2} s on the host)");
    assert!(ms < 1000.0, "{line}");
    wait_in_text(&mut m, 0, &format!("bg t{id} stopped by /kill after"));
    sync(&mut m, 2);
    let ps = m.command("/ps");
    assert!(ps_row(&ps, id).is_none(), "t{id} still listed:\n{ps}");
    // And a new request may start.
    let out = m.command("/bg -n 2 Hi");
    let id = task_of(&out);
    wait_in_text(&mut m, 0, &format!("bg t{id} done: "));
}

//! The preemptive scheduler (no model): two CPU-bound tasks on one CPU
//! both make progress and keep exact SIMD sums across switches, the
//! console still answers, and `/kill tN` stops a task within a second;
//! on two CPUs, tasks run on both, beside the compute team, whose
//! fork-joins stay exact.

mod common;

use common::{config, line_with, number_after, ps, NEEDS_IMAGES};
use qemu_tests::{Firmware, Machine, PROMPT};
use std::thread;
use std::time::{Duration, Instant};

/// Generous: the machine is shared and QEMU runs under TCG.
const TIMEOUT: Duration = Duration::from_secs(40);
/// How long the console may take to answer /uptime with the spinners
/// running (it answers in a few ms when idle; the host is loaded).
const PROMPT_ANSWER: Duration = Duration::from_secs(3);
/// What a spinner prints when a sum is wrong.
const SIMD_ERROR: &str = "SIMD result wrong";

/// The CPU time (seconds) of task `id` in `/ps` output, if listed.
fn cpu_secs(ps: &str, id: &str) -> Option<f64> {
    let row = ps.lines().find(|l| l.starts_with(&format!("{id} ")))?;
    // ... STATE CPU NEXT RUNS "1.23 s" MEM
    let words: Vec<&str> = row.split_whitespace().collect();
    let s = words.iter().rposition(|w| *w == "s")?;
    words.get(s.checked_sub(1)?)?.parse().ok()
}

/// The spinners `/test-spin` started: (id, CPU) for each "tN (CPU C)".
fn spinners(out: &str) -> Vec<(String, usize)> {
    let line = line_with(out, "spinning with");
    let words: Vec<&str> = line.split_whitespace().collect();
    words
        .windows(3)
        .filter(|w| w[0].starts_with('t') && w[0][1..].parse::<u32>().is_ok() && w[1] == "(CPU")
        .map(|w| {
            let cpu = w[2].trim_end_matches(')').parse().unwrap();
            (w[0].to_string(), cpu)
        })
        .collect()
}

/// The CPU column of task `id` in `/ps` output.
fn ps_cpu(ps: &str, id: &str) -> Option<usize> {
    let row = ps.lines().find(|l| l.starts_with(&format!("{id} ")))?;
    // ID WHAT... STATE CPU NEXT RUNS TIME s MEM: CPU is 6th from the end.
    let words: Vec<&str> = row.split_whitespace().collect();
    words.get(words.len().checked_sub(6)?)?.parse().ok()
}

/// Kills task `id` and returns the kernel's figure: milliseconds from the
/// `/kill` to the task's end.
fn kill_ms(m: &mut Machine, id: &str) -> f64 {
    let out = m.command_with_timeout(&format!("/kill {id}"), TIMEOUT);
    let line = line_with(&out, &format!("killed task {id} "));
    let ms = line
        .split("it ended ")
        .nth(1)
        .and_then(|r| r.split(" ms after /kill").next())
        .and_then(|n| n.trim().parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no 'it ended N ms after /kill' in {line:?}"));
    eprintln!("sched: /kill {id}: ended {ms} ms after /kill");
    ms
}

/// Starts two spinners (`/test-spin 2`): their ids and CPUs.
fn start_two_spinners(m: &mut Machine) -> Vec<(String, usize)> {
    let out = m.command("/test-spin 2");
    let ids = spinners(&out);
    assert_eq!(ids.len(), 2, "two task ids expected:\n{out}");
    ids
}

/// The CPU seconds each task of `ids` gained from one `/ps` output to the
/// next; each must have gained some.
fn cpu_gained(first: &str, second: &str, ids: &[&str]) -> Vec<f64> {
    ids.iter()
        .map(|&id| {
            let t1 = cpu_secs(first, id).unwrap_or_else(|| panic!("/ps lacks {id}:\n{first}"));
            let t2 = cpu_secs(second, id).unwrap_or_else(|| panic!("/ps lacks {id}:\n{second}"));
            eprintln!("sched: {id} CPU time {t1} s, then {t2} s");
            assert!(
                t2 > t1,
                "{id} did not run: {t1} s then {t2} s\n{first}\n{second}"
            );
            t2 - t1
        })
        .collect()
}

/// Kills spinner `id`: it ends within a second of the `/kill` (the
/// kernel measures) and says how many exact rounds it did.
fn kill_spinner(m: &mut Machine, id: &str) {
    let ms = kill_ms(m, id);
    assert!(ms < 1000.0, "{id} ended {ms} ms after /kill");
    m.wait_for(&format!("spin task {id}: stopped after "), TIMEOUT);
}

#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn two_spinning_tasks_share_cpu0_and_die_when_killed() {
    let _ = NEEDS_IMAGES;
    let mut m = Machine::boot_to_prompt("sched", &config(Firmware::Bios, 256).smp(1));

    let ids = start_two_spinners(&mut m);
    assert!(ids.iter().all(|(_, cpu)| *cpu == 0), "{ids:?}");
    let (a, b) = (ids[0].0.as_str(), ids[1].0.as_str());

    // The console (weight 16) still answers promptly.
    thread::sleep(Duration::from_millis(500));
    for _ in 0..3 {
        let t0 = Instant::now();
        m.send(b"/uptime\r");
        m.wait_for("uptime: ", TIMEOUT);
        let took = t0.elapsed();
        m.wait_for(PROMPT, TIMEOUT);
        eprintln!("sched: /uptime answered in {took:?} with two spinners");
        assert!(!m.text().contains(SIMD_ERROR), "{}", m.text());
        assert!(
            took < PROMPT_ANSWER,
            "/uptime took {took:?} with two spinners running"
        );
    }

    // Ctrl-C stops a foreground command within a second (the kernel
    // measures from the key's arrival).
    m.send(b"/test-stream\r");
    m.wait_for("stream: line 2", TIMEOUT);
    m.send(b"\x03");
    let out = m.answer(TIMEOUT);
    let line = line_with(&out, "interrupted by Ctrl-C");
    let ms: f64 = number_after(line, ", ");
    eprintln!("sched: Ctrl-C stopped /test-stream {ms} ms after the key");
    assert!(ms < 1000.0, "{line}");

    // Both make progress: CPU time > 0 and growing for each.
    let first = ps(&mut m);
    // The keys typed while the spinners ran made CPU 0 choose at once,
    // not at its next tick.
    let chosen: u64 = first
        .split_once(" chosen at once for input)")
        .and_then(|(before, _)| before.rsplit('(').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no '(N chosen at once for input)' in /ps:\n{first}"));
    eprintln!("sched: {chosen} choices at once for input");
    assert!(chosen >= 1, "{first}");
    thread::sleep(Duration::from_secs(2));
    let second = ps(&mut m);
    cpu_gained(&first, &second, &[a, b]);
    assert!(!m.text().contains(SIMD_ERROR), "{}", m.text());

    // /kill ends one within a second; /ps no longer lists it.
    kill_spinner(&mut m, a);
    thread::sleep(Duration::from_secs(1));
    let third = ps(&mut m);
    assert!(
        cpu_secs(&third, a).is_none(),
        "/ps still lists {a}:\n{third}"
    );
    let t3 = cpu_secs(&third, b).unwrap_or_else(|| panic!("/ps lacks {b}:\n{third}"));
    assert!(t3 > cpu_secs(&second, b).unwrap(), "{b} stopped:\n{third}");
    let out = m.command(&format!("/kill {a}"));
    assert!(out.contains(&format!("no task {a}")), "{out}");

    kill_spinner(&mut m, b);
    let text = m.text();
    assert!(!text.contains(SIMD_ERROR), "{text}");
    let rounds: Vec<&str> = text.lines().filter(|l| l.contains("spin task t")).collect();
    eprintln!("sched: {rounds:?}");
}

#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn tasks_run_on_both_cpus_beside_the_compute_team() {
    let _ = NEEDS_IMAGES;
    let mut m = Machine::boot_to_prompt("sched-smp2", &config(Firmware::Uefi, 256).smp(2));

    // Two spinners: the first goes to CPU 1 (application processors
    // first), the second to CPU 0 (fewest tasks).
    let ids = start_two_spinners(&mut m);
    assert_eq!((ids[0].1, ids[1].1), (1, 0), "{ids:?}");
    let (a, b) = (ids[0].0.as_str(), ids[1].0.as_str());

    // /ps lists every CPU's tasks, with the CPU each runs on.
    thread::sleep(Duration::from_millis(500));
    let first = ps(&mut m);
    for (task, cpu) in [
        (a, 1),
        (b, 0),
        ("console", 0),
        ("worker1", 1),
        ("idle0", 0),
        ("idle1", 1),
    ] {
        assert_eq!(
            ps_cpu(&first, task),
            Some(cpu),
            "{task} on CPU {cpu}:\n{first}"
        );
    }
    let cpu = m.command("/cpu");
    assert!(
        line_with(&cpu, "cpu 1: APIC id").contains("; task "),
        "{cpu}"
    );

    // The compute team still forks and joins exactly while a task shares
    // CPU 1 with its worker (the wake-up IPI puts the worker first).
    let t0 = Instant::now();
    let out = m.command_with_timeout("/test-team 3000", TIMEOUT);
    eprintln!(
        "sched-smp2: /test-team 3000 took {:?}: {}",
        t0.elapsed(),
        line_with(&out, "team:")
    );
    assert!(
        line_with(&out, "team: 3000 rounds on 2 workers").contains("PASS"),
        "{out}"
    );

    // Both spinners make progress, each on its CPU.
    thread::sleep(Duration::from_secs(2));
    let second = ps(&mut m);
    // The one alone on CPU 1 gets most of that CPU; the one on CPU 0
    // shares it with the console.
    let gained = cpu_gained(&first, &second, &[a, b]);
    let (da, db) = (gained[0], gained[1]);
    assert!(
        da > 0.5,
        "{a} on CPU 1 ran only {da} s of ~2 s:\n{first}\n{second}"
    );
    eprintln!("sched-smp2: in ~2 s, {a} (CPU 1) ran {da:.2} s, {b} (CPU 0) {db:.2} s");

    // /kill stops each within a second, from CPU 0 for the one on CPU 1.
    for id in [a, b] {
        kill_spinner(&mut m, id);
        // The message is printed above a redrawn prompt.
        m.wait_for(PROMPT, TIMEOUT);
    }
    let third = ps(&mut m);
    assert!(
        ps_cpu(&third, a).is_none() && ps_cpu(&third, b).is_none(),
        "{third}"
    );
    let text = m.text();
    assert!(!text.contains(SIMD_ERROR), "{text}");
}

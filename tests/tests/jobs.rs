//! Jobs: `/after`, `/every`, `/remind`, `/ps`, `/kill` (no model).

mod common;

use common::{config, ps};
use qemu_tests::{Firmware, Machine};
use std::thread;
use std::time::Duration;

/// Generous: the machine is shared and QEMU runs under TCG.
const JOB_TIMEOUT: Duration = Duration::from_secs(40);

const LEFT: &str = "\x1b[D";

#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn jobs_run_at_the_prompt_and_stop_when_killed() {
    let mut m = Machine::boot_to_prompt("jobs", &config(Firmware::Bios, 512).smp(2));

    // Refused at creation: invalid commands, jobs that make jobs, bad
    // durations, periods under a second.
    for (line, why) in [
        ("/after 1s /nosuch", "unknown command /nosuch"),
        ("/after 1s /cat", "missing <path>"),
        ("/after 1s hello", "must be a command line starting with /"),
        ("/after 1s /every 1s /date", "a job can not create jobs"),
        ("/every 2s /remind 1s hi", "a job can not create jobs"),
        ("/after soon /date", "must be a duration like"),
        ("/every 500ms /date", "must be from 1s to"),
        ("/remind 5s", "missing <text>"),
        ("/bg hello", "no model"),
    ] {
        let out = m.command(line);
        assert!(
            out.contains("error:") && out.contains(why),
            "{line}: expected an error saying {why:?}, got:\n{out}"
        );
    }

    // The fixed tasks can not be killed; unknown ids are named.
    for (line, why) in [
        ("/kill console", "the console can not be killed"),
        ("/kill idle0", "idle0 is CPU 0's idle loop"),
        ("/kill worker1", "worker1 is CPU 1's compute-team worker"),
        ("/kill 99", "no job 99"),
        ("/kill nobody", "no task or job \"nobody\""),
    ] {
        let out = m.command(line);
        assert!(
            out.contains("error:") && out.contains(why),
            "{line}: expected {why:?}, got:\n{out}"
        );
    }
    let out = ps(&mut m);
    for task in ["console", "idle0", "worker1", "idle1", "0 jobs of at most"] {
        assert!(out.contains(task), "/ps lacks {task}:\n{out}");
    }

    // A reminder fires while a line is half typed: it is printed above the
    // prompt, and the line, with its cursor, survives.
    let out = m.command("/remind 3s tea time");
    assert!(out.contains("reminder 1 in 3s"), "{out}");
    m.send(format!("/echo hlf{LEFT}{LEFT}").as_bytes());
    m.wait_for("[reminder 1] tea time\nllm> /echo hlf", JOB_TIMEOUT);
    m.send(b"a\r");
    let out = m.answer(JOB_TIMEOUT);
    assert_eq!(
        out.trim_end(),
        "half",
        "the half-typed line after the reminder"
    );

    // /after runs its command once.
    let out = m.command("/after 500ms /echo later");
    assert!(out.contains("job 2: /echo later in 500ms"), "{out}");
    // Its output comes above a new prompt.
    m.wait_for("[job 2 run 1: /echo later]\nlater\nllm> ", JOB_TIMEOUT);

    // /every repeats until /kill.
    let out = m.command("/every 1s /date");
    assert!(out.contains("job 3: /date every 1s"), "{out}");
    m.wait_for("[job 3 run 2: /date]\n", JOB_TIMEOUT);
    let out = ps(&mut m);
    assert!(
        out.lines()
            .any(|l| l.starts_with("3 ") && l.contains("every 1s /date")),
        "/ps does not list job 3:\n{out}"
    );
    assert!(out.contains("1 job of at most"), "{out}");
    m.send(b"/kill 3\r");
    m.wait_for("killed job 3 (every /date) after", JOB_TIMEOUT);
    let text = m.text();
    let runs = text.matches("[job 3 run ").count();
    assert!(runs >= 2, "{runs} runs of job 3");
    // Each run printed the date.
    assert!(
        text.matches(" UTC (").count() >= runs,
        "not every run printed the date:\n{text}"
    );
    let at_kill = text.len();
    thread::sleep(Duration::from_secs(3));
    let out = ps(&mut m);
    assert!(out.contains("0 jobs of at most"), "{out}");
    let after = &m.text()[at_kill..];
    assert!(
        !after.contains("[job 3 run"),
        "job 3 ran after /kill:\n{after}"
    );

    // Every run was audited.
    let audit = m.command("/audit 40");
    assert!(audit.contains("(job 3) /date"), "{audit}");
    assert!(audit.contains("(job 2) /echo later"), "{audit}");

    // A job due while a command runs waits for the prompt: the reminder
    // (due after 1 s) comes after the 2-second stream, not inside it.
    let out = m.command("/remind 1s after the stream");
    assert!(out.contains("reminder 4 in 1s"), "{out}");
    m.send(b"/test-stream\r");
    m.wait_for("stream: line 20\n", JOB_TIMEOUT);
    m.send(b"\x03");
    let out = m.wait_for("[reminder 4] after the stream\nllm> ", JOB_TIMEOUT);
    assert!(
        out.contains("stream: interrupted by Ctrl-C"),
        "the reminder came before the stream ended:\n{out}"
    );
}

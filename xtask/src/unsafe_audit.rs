//! `cargo xtask unsafe [--list]`: where the project's `unsafe` code is, and
//! whether each use says why it is sound (`--list`: every use).
//!
//! Every `.rs` file under `kernel/` and `model-loader/` (not `target/`, not
//! fuzz corpora) is lexed (comments, strings, raw strings and char literals
//! are skipped, so the word in a comment or a string is not a use) and every
//! use of the `unsafe` keyword is found: a block `unsafe {`, a function
//! `unsafe fn` / `unsafe extern "C" fn`, `unsafe impl`, `unsafe trait`, an
//! `unsafe extern` block and an `#[unsafe(...)]` attribute (or one of the
//! unsafe attributes edition 2021 lets us write bare: `#[no_mangle]`,
//! `#[export_name]`, `#[link_section]`). (`unsafe fn(..)` as a function
//! pointer *type* is not a use.)
//!
//! The rules, each violation printed as `path:line: ...`, exit status 1:
//! - **SAFETY comment.** A use is documented when a comment containing
//!   `SAFETY` is on its own line (after the code), or in the run of
//!   comment lines right above it (attribute lines `#[...]` in that run are
//!   passed over; a blank or code line ends it), or — for a block — on the
//!   block's first line (the line after `unsafe {`). An `unsafe fn` may
//!   instead have a `# Safety` section in its doc comment, and an `unsafe fn`
//!   that implements a trait method (inside `impl Trait for T`) or is
//!   declared in an `extern` block needs none: the trait's or the block's
//!   contract covers it. Nor does one in a file whose module docs (`//!`)
//!   have a `# Safety` section: the contract shared by all of the file's
//!   `unsafe fn`s (the SIMD kernels: the CPU has the target features, the
//!   pointers cover the blocks named).
//! - **Allowed places.** `unsafe` only in the [`ALLOWED`] areas, or in a
//!   file named in [`EXCEPTIONS`] with its reason.

use crate::util::root;
use anyhow::{bail, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where `unsafe` belongs: the hardware, memory and driver layers of the
/// kernel and the SIMD kernels of the engine.
pub const ALLOWED: &[(&str, &str)] = &[
    (
        "kernel/src/arch/",
        "CPU, interrupts, AP start-up, ACPI registers, self-test pokes",
    ),
    (
        "kernel/src/mm/",
        "paging, frames, heap, the ramdisk's slice",
    ),
    ("kernel/src/drivers/", "device registers and DMA"),
    ("model-loader/src/quant/simd/", "SIMD kernels (intrinsics)"),
];

/// Files outside [`ALLOWED`] that may use `unsafe`, each with the reason it
/// cannot move.
pub const EXCEPTIONS: &[(&str, &str)] = &[
    (
        "kernel/fs/src/lfs.rs",
        "FFI binding to the littlefs C library (host-tested crate, no hardware)",
    ),
    (
        "kernel/src/task/team.rs",
        "fork-join over the CPUs: workers read the caller's job through a lifetime-erased pointer the barrier keeps valid",
    ),
    (
        "model-loader/src/parallel.rs",
        "ChunkQueue: disjoint &mut chunks of one slice claimed by atomic index from several workers",
    ),
    (
        "model-loader/src/parallel/threads.rs",
        "host thread team: pooled threads run a lifetime-erased job pointer, valid until the barrier",
    ),
    (
        "model-loader/src/cpu.rs",
        "XGETBV (no safe intrinsic) to see whether the OS enabled the AVX state",
    ),
    (
        "model-loader/src/quant/profile.rs",
        "timed backend: its plain fn entries reach the wrapped backend through a global pointer to a leaked copy",
    ),
    (
        "model-loader/src/bin/llm-bench.rs",
        "host benchmark: clock_gettime's CPU-time clocks (no std API) and MXCSR's inexact flag",
    ),
];

/// The directories scanned, from the repository root.
const SCANNED: &[&str] = &["kernel", "model-loader"];

/// Directories never scanned: build output and fuzzing inputs.
const SKIPPED_DIRS: &[&str] = &["target", "corpus", "artifacts", "coverage"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Block,
    Fn,
    Impl,
    Trait,
    ExternBlock,
    Attribute,
    /// `unsafe` before something else (e.g. in a macro).
    Other,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Block => "block",
            Kind::Fn => "fn",
            Kind::Impl => "impl",
            Kind::Trait => "trait",
            Kind::ExternBlock => "extern block",
            Kind::Attribute => "attribute",
            Kind::Other => "use",
        }
    }
}

/// One use of `unsafe`: its line (1-based), kind, and whether it is
/// documented by the rule above.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Use {
    pub line: usize,
    pub kind: Kind,
    pub documented: bool,
}

#[derive(Default, Clone)]
struct LineInfo {
    /// The line's text outside comments (strings included).
    code: String,
    /// The text of the comments on the line.
    comment: String,
}

impl LineInfo {
    fn is_comment_only(&self) -> bool {
        self.code.trim().is_empty() && !self.comment.trim().is_empty()
    }
    fn is_attribute_only(&self) -> bool {
        let c = self.code.trim();
        c.starts_with("#[") && self.comment.trim().is_empty()
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Punct(char),
    /// A string, char or number literal, or a lifetime.
    Literal,
}

/// The source split into tokens (each with its 0-based line) and per-line
/// comment/code text.
fn lex(src: &str) -> (Vec<(Tok, usize)>, Vec<LineInfo>) {
    let s: Vec<char> = src.chars().collect();
    let mut lines = vec![LineInfo::default()];
    let mut toks = Vec::new();
    let mut i = 0;
    let at = |i: usize| s.get(i).copied().unwrap_or('\0');
    let ident_char = |c: char| c.is_alphanumeric() || c == '_';
    // Appends s[from..to] as code, splitting at newlines.
    fn push_code(lines: &mut Vec<LineInfo>, text: &[char]) {
        for &c in text {
            if c == '\n' {
                lines.push(LineInfo::default());
            } else {
                lines.last_mut().unwrap().code.push(c);
            }
        }
    }
    fn push_comment(lines: &mut Vec<LineInfo>, text: &[char]) {
        for &c in text {
            if c == '\n' {
                lines.push(LineInfo::default());
            } else {
                lines.last_mut().unwrap().comment.push(c);
            }
        }
    }
    // The end of a quoted string starting at `i` (the opening quote),
    // escapes honoured.
    let string_end = |mut i: usize| -> usize {
        i += 1;
        while i < s.len() {
            match s[i] {
                '\\' => i += 2,
                '"' => return i + 1,
                _ => i += 1,
            }
        }
        s.len()
    };
    // The end of a raw string starting at `i` (at the first `#` or `"`).
    let raw_string_end = |mut i: usize| -> usize {
        let mut hashes = 0;
        while at(i) == '#' {
            hashes += 1;
            i += 1;
        }
        i += 1; // the opening quote
        while i < s.len() {
            if s[i] == '"' && (1..=hashes).all(|k| at(i + k) == '#') {
                return i + 1 + hashes;
            }
            i += 1;
        }
        s.len()
    };
    while i < s.len() {
        let c = s[i];
        let line = lines.len() - 1;
        if c == '\n' {
            lines.push(LineInfo::default());
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            let end = s[i..]
                .iter()
                .position(|&c| c == '\n')
                .map_or(s.len(), |p| i + p);
            push_comment(&mut lines, &s[i..end]);
            i = end;
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            let mut j = i;
            while j < s.len() {
                if s[j] == '/' && at(j + 1) == '*' {
                    depth += 1;
                    j += 2;
                } else if s[j] == '*' && at(j + 1) == '/' {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            let end = j.min(s.len());
            push_comment(&mut lines, &s[i..end]);
            i = end;
        } else if c == '"' {
            let end = string_end(i);
            push_code(&mut lines, &s[i..end]);
            toks.push((Tok::Literal, line));
            i = end;
        } else if c == '\'' {
            // A char literal ('a', '\n', '\u{..}') or a lifetime ('a).
            let end = if at(i + 1) == '\\' {
                let mut j = i + 3;
                while j < s.len() && s[j] != '\'' {
                    j += 1;
                }
                j + 1
            } else if at(i + 2) == '\'' {
                i + 3
            } else {
                let mut j = i + 1;
                while ident_char(at(j)) {
                    j += 1;
                }
                j
            };
            let end = end.min(s.len());
            push_code(&mut lines, &s[i..end]);
            toks.push((Tok::Literal, line));
            i = end;
        } else if c.is_ascii_digit() {
            let mut j = i;
            while ident_char(at(j)) {
                j += 1;
            }
            push_code(&mut lines, &s[i..j]);
            toks.push((Tok::Literal, line));
            i = j;
        } else if ident_char(c) {
            let mut j = i;
            while ident_char(at(j)) {
                j += 1;
            }
            let word: String = s[i..j].iter().collect();
            let next = at(j);
            let end = match word.as_str() {
                "r" | "br" | "cr"
                    if next == '"' || (next == '#' && matches!(at(j + 1), '"' | '#')) =>
                {
                    Some(raw_string_end(j))
                }
                "b" | "c" if next == '"' => Some(string_end(j)),
                "b" if next == '\'' => {
                    let mut k = j + 1;
                    while k < s.len() && s[k] != '\'' {
                        k += if s[k] == '\\' { 2 } else { 1 };
                    }
                    Some((k + 1).min(s.len()))
                }
                // A raw identifier (r#unsafe) is not the keyword.
                "r" if next == '#' && ident_char(at(j + 1)) => {
                    let mut k = j + 1;
                    while ident_char(at(k)) {
                        k += 1;
                    }
                    Some(k)
                }
                _ => None,
            };
            match end {
                Some(end) => {
                    push_code(&mut lines, &s[i..end]);
                    toks.push((Tok::Literal, line));
                    i = end;
                }
                None => {
                    push_code(&mut lines, &s[i..j]);
                    toks.push((Tok::Ident(word), line));
                    i = j;
                }
            }
        } else {
            lines.last_mut().unwrap().code.push(c);
            toks.push((Tok::Punct(c), line));
            i += 1;
        }
    }
    (toks, lines)
}

/// What a `{` opens, as far as the rules care.
#[derive(Clone, Copy, PartialEq)]
enum Scope {
    TraitImpl,
    Extern,
    Other,
}

/// Every use of `unsafe` in one source file.
pub fn scan(src: &str) -> Vec<Use> {
    let (toks, lines) = lex(src);
    let ident = |k: usize| match toks.get(k) {
        Some((Tok::Ident(w), _)) => Some(w.as_str()),
        _ => None,
    };
    let punct = |k: usize| match toks.get(k) {
        Some((Tok::Punct(c), _)) => Some(*c),
        _ => None,
    };
    // A `# Safety` section in the module docs: the contract of every
    // `unsafe fn` in the file.
    let file_contract = lines
        .iter()
        .any(|l| l.comment.trim_start().starts_with("//!") && l.comment.contains("# Safety"));
    let mut uses = Vec::new();
    let mut stack: Vec<Scope> = Vec::new();
    let mut pending: Option<Scope> = None;
    for k in 0..toks.len() {
        match &toks[k].0 {
            Tok::Punct('{') => stack.push(pending.take().unwrap_or(Scope::Other)),
            Tok::Punct('}') => {
                stack.pop();
            }
            Tok::Punct(';') => pending = None,
            Tok::Ident(w) if w == "impl" => {
                // An item (not `-> impl Trait`): after the end of an item,
                // an attribute, or `unsafe`/`default`.
                let item = k == 0
                    || matches!(punct(k - 1), Some(';' | '}' | '{' | ']'))
                    || matches!(ident(k - 1), Some("unsafe" | "default"));
                if item {
                    // A trait impl has `for` (not `for<` of a bound) before
                    // its `{`.
                    let mut j = k + 1;
                    let mut is_trait = false;
                    while j < toks.len() && !matches!(punct(j), Some('{' | ';')) {
                        if ident(j) == Some("for") && punct(j + 1) != Some('<') {
                            is_trait = true;
                        }
                        j += 1;
                    }
                    pending = Some(if is_trait {
                        Scope::TraitImpl
                    } else {
                        Scope::Other
                    });
                }
            }
            Tok::Ident(w) if w == "extern" => {
                let mut j = k + 1;
                if toks.get(j).map(|t| &t.0) == Some(&Tok::Literal) {
                    j += 1;
                }
                if punct(j) == Some('{') {
                    pending = Some(Scope::Extern);
                }
            }
            // Unsafe attributes written without `unsafe(..)` (edition 2021
            // allows that): the same use as `#[unsafe(no_mangle)]`.
            Tok::Ident(w)
                if matches!(w.as_str(), "no_mangle" | "export_name" | "link_section")
                    && k >= 2
                    && punct(k - 1) == Some('[')
                    && punct(k - 2) == Some('#') =>
            {
                let line = toks[k].1;
                let documented = documented(&lines, line, Kind::Attribute);
                uses.push(Use {
                    line: line + 1,
                    kind: Kind::Attribute,
                    documented,
                });
            }
            Tok::Ident(w) if w == "unsafe" => {
                let line = toks[k].1;
                let attribute = k >= 2 && punct(k - 1) == Some('[') && punct(k - 2) == Some('#');
                // Past `extern "abi"`.
                let mut j = k + 1;
                let is_extern = ident(j) == Some("extern");
                if is_extern {
                    j += 1;
                    if toks.get(j).map(|t| &t.0) == Some(&Tok::Literal) {
                        j += 1;
                    }
                }
                let kind = if attribute {
                    Kind::Attribute
                } else if ident(j) == Some("fn") {
                    if punct(j + 1) == Some('(') {
                        continue; // a function pointer type
                    }
                    Kind::Fn
                } else if punct(j) == Some('{') {
                    if is_extern {
                        Kind::ExternBlock
                    } else {
                        Kind::Block
                    }
                } else if ident(j) == Some("impl") {
                    Kind::Impl
                } else if ident(j) == Some("trait") {
                    Kind::Trait
                } else {
                    Kind::Other
                };
                let covered = kind == Kind::Fn
                    && (file_contract
                        || matches!(stack.last(), Some(Scope::TraitImpl | Scope::Extern)));
                let documented = covered || documented(&lines, line, kind);
                uses.push(Use {
                    line: line + 1,
                    kind,
                    documented,
                });
            }
            _ => {}
        }
    }
    uses
}

/// Whether the use on (0-based) `line` has its SAFETY comment (see the
/// module docs).
fn documented(lines: &[LineInfo], line: usize, kind: Kind) -> bool {
    if lines[line].comment.contains("SAFETY") {
        return true;
    }
    let mut l = line;
    while l > 0 {
        l -= 1;
        let info = &lines[l];
        if info.is_comment_only() {
            if info.comment.contains("SAFETY") {
                return true;
            }
            if kind == Kind::Fn && info.comment.contains("# Safety") {
                return true;
            }
        } else if !info.is_attribute_only() {
            break;
        }
    }
    kind == Kind::Block
        && lines
            .get(line + 1)
            .is_some_and(|next| next.is_comment_only() && next.comment.contains("SAFETY"))
}

/// The allowed area or exception a path (relative, `/`-separated) falls in.
pub fn place(path: &str) -> Option<&'static str> {
    ALLOWED
        .iter()
        .find(|(prefix, _)| path.starts_with(prefix))
        .or_else(|| EXCEPTIONS.iter().find(|(file, _)| path == *file))
        .map(|(p, _)| *p)
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if entry.file_type()?.is_dir() {
            if !name.starts_with('.') && !SKIPPED_DIRS.contains(&name.as_ref()) {
                rs_files(&path, out)?;
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// The audit's findings over the tree.
pub struct Report {
    /// Per file (relative path): its uses.
    pub files: BTreeMap<String, Vec<Use>>,
}

impl Report {
    pub fn collect() -> Result<Report> {
        let root = root();
        let mut paths = Vec::new();
        for dir in SCANNED {
            rs_files(&root.join(dir), &mut paths)?;
        }
        let mut files = BTreeMap::new();
        for path in paths {
            let src = std::fs::read_to_string(&path)?;
            let uses = scan(&src);
            if !uses.is_empty() {
                let rel = path
                    .strip_prefix(&root)?
                    .to_string_lossy()
                    .replace('\\', "/");
                files.insert(rel, uses);
            }
        }
        Ok(Report { files })
    }

    /// `path:line: problem` for every violation.
    pub fn violations(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (path, uses) in &self.files {
            let allowed = place(path).is_some();
            for u in uses {
                if !allowed {
                    out.push(format!(
                        "{path}:{}: unsafe {} outside the allowed areas",
                        u.line,
                        u.kind.name()
                    ));
                }
                if !u.documented {
                    out.push(format!(
                        "{path}:{}: unsafe {} without a SAFETY comment",
                        u.line,
                        u.kind.name()
                    ));
                }
            }
        }
        out
    }

    pub fn print(&self) {
        println!("unsafe uses per file:");
        for (path, uses) in &self.files {
            println!("  {:5}  {path}", uses.len());
        }
        println!("per area:");
        let mut total = 0;
        let count = |matches: &dyn Fn(&str) -> bool| -> usize {
            self.files
                .iter()
                .filter(|(p, _)| matches(p))
                .map(|(_, u)| u.len())
                .sum()
        };
        for (prefix, why) in ALLOWED {
            let n = count(&|p| p.starts_with(prefix));
            total += n;
            println!("  {n:5}  {prefix:37} {why}");
        }
        println!("exceptions:");
        for (file, why) in EXCEPTIONS {
            let n = count(&|p| p == *file);
            total += n;
            println!("  {n:5}  {file:37} {why}");
        }
        let elsewhere = count(&|p| place(p).is_none());
        total += elsewhere;
        println!("  {elsewhere:5}  elsewhere (violations)");
        println!("  {total:5}  total");
        let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
        for u in self.files.values().flatten() {
            *by_kind.entry(u.kind.name()).or_default() += 1;
        }
        let kinds: Vec<String> = by_kind.iter().map(|(k, n)| format!("{n} {k}")).collect();
        println!("by kind: {}", kinds.join(", "));
    }
}

/// `cargo xtask unsafe`: print the counts, then the violations; an error
/// if there is one.
/// `--list` also prints every use (`path:line: kind`).
pub fn main(args: Vec<String>) -> Result<()> {
    let mut args = crate::args::Args::new(args);
    let list = args.flag("--list");
    args.finish()?;
    if list {
        for (path, uses) in &Report::collect()?.files {
            for u in uses {
                println!("{path}:{}: unsafe {}", u.line, u.kind.name());
            }
        }
    }
    check(true)
}

/// The audit; `verbose` prints the counts too (the violations always).
pub fn check(verbose: bool) -> Result<()> {
    let report = Report::collect()?;
    if verbose {
        report.print();
    }
    let violations = report.violations();
    for v in &violations {
        eprintln!("{v}");
    }
    if !violations.is_empty() {
        bail!(
            "{} unsafe rule violation(s) (see `cargo xtask unsafe` and xtask/src/unsafe_audit.rs)",
            violations.len()
        );
    }
    let n: usize = report.files.values().map(Vec::len).sum();
    eprintln!("xtask: unsafe audit: {n} uses, all documented and in allowed places");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<(usize, Kind, bool)> {
        scan(src)
            .into_iter()
            .map(|u| (u.line, u.kind, u.documented))
            .collect()
    }

    #[test]
    fn block_with_and_without_safety() {
        let src = "fn f(p: *const u8) -> u8 {\n    // SAFETY: p is valid.\n    let a = unsafe { *p };\n    let b = unsafe { *p };\n    a + b\n}\n";
        assert_eq!(
            kinds(src),
            vec![(3, Kind::Block, true), (4, Kind::Block, false)]
        );
    }

    #[test]
    fn safety_comment_placements() {
        // Trailing on the same line.
        assert!(scan("let x = unsafe { *p }; // SAFETY: p is valid\n")[0].documented);
        // A multi-line comment above, attributes in between.
        let src = "// SAFETY: the symbol is ours\n// and unique.\n#[inline]\n#[unsafe(no_mangle)]\nextern \"C\" fn f() {}\n";
        assert_eq!(kinds(src), vec![(4, Kind::Attribute, true)]);
        // The bare spelling of an unsafe attribute counts too.
        let src = "#[no_mangle]\nextern \"C\" fn f() {}\n#[inline]\nfn g() {}\n";
        assert_eq!(kinds(src), vec![(1, Kind::Attribute, false)]);
        // On the block's first line.
        let src = "unsafe {\n    // SAFETY: p is valid.\n    *p\n}\n";
        assert_eq!(kinds(src), vec![(1, Kind::Block, true)]);
        // A blank line breaks the run.
        let src = "// SAFETY: p is valid.\n\nlet x = unsafe { *p };\n";
        assert_eq!(kinds(src), vec![(3, Kind::Block, false)]);
        // A code line too.
        let src = "// SAFETY: p is valid.\nlet y = 1;\nlet x = unsafe { *p };\n";
        assert_eq!(kinds(src), vec![(3, Kind::Block, false)]);
        // A block comment.
        assert!(scan("/* SAFETY: fine */ unsafe { f() }")[0].documented);
    }

    #[test]
    fn strings_and_comments_are_not_uses() {
        let src = r##"
// unsafe { in a comment }
/* unsafe { block /* nested unsafe */ comment } */
/// unsafe fn in a doc comment
fn f() -> &'static str {
    let _c = '"';
    let _b = b"unsafe {";
    let _r = r#"unsafe { "quoted" }"#;
    let _e = "escaped \" unsafe {";
    let r#unsafe = 1;
    "unsafe impl"
}
"##;
        assert_eq!(kinds(src), vec![]);
    }

    #[test]
    fn kinds_of_use() {
        let src = "\
// SAFETY: a
unsafe impl Send for X {}
/// Does things.
///
/// # Safety
/// `p` must be valid.
pub unsafe fn g(p: *const u8) {}
// SAFETY: c
unsafe trait T {}
// SAFETY: d
pub unsafe extern \"C\" fn h() {}
// SAFETY: e
unsafe extern \"C\" {
    unsafe fn ext(x: u32);
}
type F = unsafe fn(u32);
type G = unsafe extern \"C\" fn(u32);
unsafe fn undocumented() {}
";
        assert_eq!(
            kinds(src),
            vec![
                (2, Kind::Impl, true),
                (7, Kind::Fn, true),
                (9, Kind::Trait, true),
                (11, Kind::Fn, true),
                (13, Kind::ExternBlock, true),
                (14, Kind::Fn, true),
                (18, Kind::Fn, false),
            ]
        );
    }

    #[test]
    fn trait_impl_methods_need_no_comment() {
        let src = "\
// SAFETY: the heap is behind a lock.
unsafe impl GlobalAlloc for H {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 { f() }
}
impl H {
    unsafe fn own(&self) {}
}
fn it() -> impl Iterator<Item = u8> {
    unsafe fn inner() {}
}
";
        assert_eq!(
            kinds(src),
            vec![
                (2, Kind::Impl, true),
                (3, Kind::Fn, true),
                (6, Kind::Fn, false),
                (9, Kind::Fn, false)
            ]
        );
    }

    #[test]
    fn module_safety_section_covers_fns_not_blocks() {
        let src = "\
//! Kernels.
//!
//! # Safety
//! Every `unsafe fn` here needs AVX2.
unsafe fn a() {}
fn b() {
    unsafe { a() }
}
";
        assert_eq!(
            kinds(src),
            vec![(5, Kind::Fn, true), (7, Kind::Block, false)]
        );
        // A `# Safety` in an item's doc is not a module contract.
        let src = "/// # Safety\n/// none\nunsafe fn a() {}\nunsafe fn b() {}\n";
        assert_eq!(kinds(src), vec![(3, Kind::Fn, true), (4, Kind::Fn, false)]);
    }

    #[test]
    fn places() {
        assert_eq!(place("kernel/src/mm/heap.rs"), Some("kernel/src/mm/"));
        assert_eq!(place("kernel/fs/src/lfs.rs"), Some("kernel/fs/src/lfs.rs"));
        assert_eq!(place("kernel/src/shell/mod.rs"), None);
        assert_eq!(place("kernel/src/mmx.rs"), None);
    }
}

//! Whether a model's call is grounded in what the person said.
//!
//! The system prompt tells the model never to invent a path and to ask
//! back when the person does not say which file, job or time they mean;
//! a small model does not follow it ("Open the file." → `/cat
//! path/to/file`, "Remind me later." → `/remind 500ms …`, "Stop it." →
//! `/kill 1`). So the agent checks: a call whose path, duration or (for a
//! destructive command) id appears nowhere in the conversation's user
//! turns (the person's messages and the commands' results) is not run,
//! and the person is asked back instead ([`Ungrounded::question`]).
//!
//! What counts as appearing:
//! - a path: the path itself, its last component, or that component
//!   without its extension as a whole word, unless that word is a generic
//!   placeholder (`file`, `path`, `example`, …: then only the whole path
//!   with its extension counts, `file.txt`); `/` and `.` always; a path
//!   with a space only when the person quoted it (`"my notes.txt"`);
//! - a duration: any number (digits or a number word) or time unit word;
//! - an id or word of a destructive command: the value as a whole word;
//! - the text of a `/write` or `/append`: one of its words of three letters
//!   or more (other than a few common ones), when it has any ("What's
//!   written in /notes/monday.txt?" became `/write notes/monday.txt This
//!   is a test note.`: content the person never gave).
//!
//! Other texts (a reminder's comes from the request: `schedule`) and
//! command lines (checked by the grammar) are not checked.
//!
//! A flag of a destructive or power call the person did not ask for
//! (`/rm -r` for "rm notes.bak") is turned off before the call is shown
//! ([`drop_unasked_flags`]).

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use klib::registry::{Arg, Invocation, Kind, Registry, Spec, Tier, Value};

/// Words a model uses as placeholders, which ground nothing by
/// themselves (a file named `file.txt` must be named in full).
const PLACEHOLDERS: &[&str] = &[
    "file",
    "files",
    "filename",
    "myfile",
    "folder",
    "folders",
    "dir",
    "directory",
    "path",
    "name",
    "source",
    "src",
    "destination",
    "dest",
    "target",
    "example",
    "document",
    "something",
    "foo",
    "bar",
    "new",
    "old_name",
    "new_name",
];

/// An argument the person never mentioned.
#[derive(Clone, Debug, PartialEq)]
pub struct Ungrounded {
    pub arg: &'static str,
    pub value: String,
    pub kind: Kind,
}

impl Ungrounded {
    /// What to ask the person.
    pub fn question(&self) -> String {
        match self.kind {
            Kind::Path => "Which file or folder do you mean? Please give its name.".to_string(),
            Kind::Duration { .. } => "When? Please give a time, like 10 minutes.".to_string(),
            Kind::Text => "What should it say? Please give the text.".to_string(),
            _ => format!("Which {} do you mean?", self.arg.replace('_', " ")),
        }
    }

    /// Why the call was not run (for the console and the audit log).
    pub fn reason(&self) -> String {
        format!(
            "not run: {} {:?} is not in what you said",
            self.arg.replace('_', " "),
            self.value
        )
    }
}

/// The words of `text`, lower case: letters, digits, `.`, `_`, `-` and
/// `/` kept together.
fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '/')))
        .map(|w| w.trim_matches(|c: char| c == '.' || c == '-').to_string())
        .filter(|w| !w.is_empty())
        .collect()
}

fn has_word(words: &[String], w: &str) -> bool {
    words.iter().any(|x| x == w)
}

/// Whether `path` is mentioned in `context` (lower case) / its `words`.
fn path_grounded(path: &str, context: &str, words: &[String]) -> bool {
    let p = path.trim().to_lowercase();
    let p = p.trim_start_matches("./").trim_start_matches('/');
    let p = p.trim_end_matches('/');
    if p.is_empty() || p == "." {
        return true;
    }
    // "Delete it." → `/rm "delete it"`: a path with a space counts only
    // when the person quoted it.
    if p.contains(char::is_whitespace) {
        return ['"', '\'']
            .iter()
            .any(|q| context.contains(&format!("{q}{p}{q}")));
    }
    let last = p.rsplit('/').next().unwrap_or(p);
    let stem = last.split('.').next().unwrap_or(last);
    let generic = PLACEHOLDERS.contains(&stem);
    // "the files" names no file; "file.txt" does.
    if generic && last == stem {
        return false;
    }
    let mentioned = |s: &str| {
        if s.len() >= 3 {
            context.contains(s)
        } else {
            has_word(words, s)
        }
    };
    if mentioned(p) {
        return true;
    }
    !generic && (mentioned(last) || has_word(words, stem))
}

/// Words too common to show that a text came from the person.
const TEXT_COMMON: &[&str] = &[
    "the", "and", "for", "with", "that", "this", "from", "are", "was", "is", "it", "you", "your",
    "has", "have", "not", "but", "all", "new", "file", "text", "line", "note",
];

/// Whether a text to write has a word of the context's `words` (or no
/// word to judge by).
fn text_grounded(text: &str, words_of_context: &[String]) -> bool {
    let own: Vec<String> = words(text)
        .into_iter()
        .filter(|w| w.len() >= 3 && !TEXT_COMMON.contains(&w.as_str()))
        .collect();
    own.is_empty() || own.iter().any(|w| has_word(words_of_context, w))
}

/// Whether `request` names a file or folder: a word with an extension
/// (`notes.txt`), a path with a `/` in it (`/drafts`, `a/b`), or a word
/// next to `folder` or `directory` ("the drafts folder").
pub fn names_a_file(request: &str) -> bool {
    let ws = words(request);
    let folder = |w: &str| matches!(w, "folder" | "directory");
    let named = |w: &str| !folder(w) && !matches!(w, "the" | "a" | "my" | "this" | "that" | "new");
    let by_folder = ws.windows(2).any(|p| {
        (folder(&p[1]) && named(&p[0])) || (folder(&p[0]) && named(&p[1]) && p[1] != "and")
    });
    by_folder
        || ws.iter().any(|w| {
            let dotted = w.rsplit_once('.').is_some_and(|(stem, ext)| {
                !stem.is_empty()
                    && (1..=4).contains(&ext.len())
                    && ext.bytes().all(|b| b.is_ascii_alphabetic())
            });
            dotted || (w.contains('/') && w.bytes().any(|b| b.is_ascii_alphabetic()))
        })
}

/// Words that say nothing about which command a request wants.
const ASK_COMMON: &[&str] = &[
    "what", "what's", "whats", "the", "how", "much", "many", "are", "there", "show", "tell",
    "please", "for", "and", "you", "your", "this", "that", "does", "did", "can", "could", "would",
    "will", "been", "has", "have", "with", "from", "which", "when", "where", "who", "why", "all",
    "any", "some", "about", "into", "now", "get", "give", "let", "want", "need", "like", "just",
    "its", "it's", "not", "but", "was", "is", "it", "me", "my", "one", "i'm", "i've",
];

/// The words of `text` that can say which command it is about: lower
/// case, at least 3 letters, not [`ASK_COMMON`].
pub fn topic_words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.trim_matches('\''))
        .filter(|w| w.len() >= 3 && !ASK_COMMON.contains(w))
        .map(String::from)
        .collect()
}

/// Whether `a` and `b` are one word, maybe inflected: "disk" and
/// "disks", "boot" and "booted", "run" and "running"; not "time" and
/// "timer".
fn same_word(a: &str, b: &str) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let Some(rest) = long.strip_prefix(short) else {
        return false;
    };
    let doubled = |r: &str| r.len() == 4 && r.ends_with("ing") && short.ends_with(&r[..1]);
    matches!(rest, "" | "s" | "es" | "d" | "ed" | "ing") || doubled(rest)
}

/// How many of a request's topic words are among a description's
/// ([`same_word`]).
pub fn topic_overlap(request: &[String], description: &[String]) -> usize {
    request
        .iter()
        .filter(|w| description.iter().any(|d| same_word(w, d)))
        .count()
}

/// The topic words of a command: of its name, aliases and description.
pub fn spec_words(spec: &klib::registry::Spec) -> Vec<String> {
    let mut words = topic_words(spec.name);
    for a in spec.aliases {
        words.extend(topic_words(a));
    }
    words.extend(topic_words(spec.help));
    words
}

/// For a model's call that schedules another command (`/after 1h /mem`),
/// the command it schedules when the person's `request` shares no word
/// with that command's description: after the first call's result the
/// model proposes such calls by itself ("In an hour remind me to call
/// mom": `/remind 1h call mom`, then `/after 1h /mem`).
pub fn unasked_scheduled(reg: &Registry, inv: &Invocation, request: &str) -> Option<String> {
    let spec = super::run::scheduled(reg, inv).next()?;
    let asked = topic_words(request);
    (topic_overlap(&asked, &spec_words(spec)) == 0).then(|| format!("/{}", spec.name))
}

/// Whether `context` (lower case) gives a number or a unit of time.
fn duration_grounded(context: &str) -> bool {
    context.chars().any(|c| c.is_ascii_digit())
        || context
            .split(|c: char| !c.is_alphabetic())
            .any(super::schedule::is_time_word)
}

/// The first argument of `inv` that `context` (the user turns of the
/// conversation, the current message included) does not ground.
pub fn ungrounded(inv: &Invocation, context: &str) -> Option<Ungrounded> {
    let lower = context.to_lowercase();
    let ws = words(context);
    for (arg, value) in inv.spec.args.iter().zip(&inv.values) {
        let Some(value) = value else { continue };
        let grounded = match (&arg.kind, value) {
            (Kind::Path, Value::Str(p)) => path_grounded(p, &lower, &ws),
            (Kind::Duration { .. }, _) => duration_grounded(&lower),
            (Kind::Text, Value::Str(t)) if matches!(inv.name(), "write" | "append") => {
                text_grounded(t, &ws)
            }
            (Kind::Word | Kind::Int { .. }, v) if inv.spec.tier == Tier::Destructive => {
                let v = v.to_text().to_lowercase();
                has_word(&ws, &v) || has_word(&ws, v.trim_start_matches('t'))
            }
            _ => true,
        };
        if !grounded {
            return Some(Ungrounded {
                arg: arg.name,
                value: value.to_text(),
                kind: arg.kind,
            });
        }
    }
    None
}

/// Words of a flag's meaning too common to show that the person asked
/// for it.
const COMMON: &[&str] = &[
    "about", "after", "again", "their", "there", "these", "thing", "those", "which", "while",
    "where", "would", "could", "should", "other", "every", "first",
];

/// Words that mean the same as a word of a flag's meaning.
const SYNONYMS: &[(&str, &[&str])] = &[("directory", &["folder", "dir", "directories", "folders"])];

/// Whether the person's `request` asks for `flag` of `spec`: its name, its
/// switch, or a word of its meaning (five letters or more, not the
/// command's own name or alias) or a synonym of one appears in it.
fn flag_asked(spec: &Spec, flag: &Arg, request: &[String]) -> bool {
    let own = |w: &str| w == spec.name || spec.aliases.contains(&w);
    let said = |w: &str| {
        has_word(request, w)
            || SYNONYMS
                .iter()
                .any(|(k, syn)| *k == w && syn.iter().any(|s| has_word(request, s)))
    };
    has_word(request, flag.name)
        || flag
            .switch
            .is_some_and(|s| has_word(request, s.trim_start_matches('-')))
        || words(flag.help)
            .iter()
            .filter(|w| w.len() >= 5 && !COMMON.contains(&w.as_str()) && !own(w))
            .any(|w| said(w))
}

/// Turns off the flags of a destructive or power call that the person's
/// `request` did not ask for ("rm notes.bak" → the model's `/rm -r
/// notes.bak` becomes `/rm notes.bak`): their names.
pub fn drop_unasked_flags(inv: &mut Invocation, request: &str) -> Vec<&'static str> {
    let mut dropped = Vec::new();
    if inv.spec.tier < Tier::Destructive {
        return dropped;
    }
    let ws = words(request);
    for (arg, value) in inv.spec.args.iter().zip(inv.values.iter_mut()) {
        if arg.kind == Kind::Flag
            && *value == Some(Value::Bool(true))
            && !flag_asked(inv.spec, arg, &ws)
        {
            *value = None;
            dropped.push(arg.name);
        }
    }
    dropped
}

/// A `/write` for a message that asks to add to a file ("Add a line to
/// notes.txt: ..."), as the `/append` it asked for: the same path and
/// text, keeping what the file holds where the write would replace it.
/// The message says `add` or `append`, and none of `write`, `replace`,
/// `overwrite`, `create`, `start` or `new` (then a write may be meant).
/// For a file that does not exist yet the two do the same.
pub fn append_as_asked(reg: &Registry, inv: &Invocation, request: &str) -> Option<Invocation> {
    if inv.name() != "write" {
        return None;
    }
    let ws = words(request);
    let said = |list: &[&str]| list.iter().any(|w| has_word(&ws, w));
    if !said(&["add", "append"])
        || said(&["write", "replace", "overwrite", "create", "start", "new"])
    {
        return None;
    }
    let (path, text) = (inv.str("path")?, inv.str("text")?);
    reg.invocation("append", &[("path", path), ("text", text)], false)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::call::parse_call;
    use klib::registry::REGISTRY;

    /// The argument `context` does not ground in the call `json`.
    fn check(context: &str, json: &str) -> Option<&'static str> {
        let inv = parse_call(&REGISTRY, json).unwrap_or_else(|e| panic!("{json}: {e:?}"));
        ungrounded(&inv, context).map(|u| u.arg)
    }

    #[test]
    fn a_write_asked_as_an_addition_appends() {
        let write = parse_call(
            &REGISTRY,
            r#"{"name": "write", "arguments": {"path": "notes.txt", "text": "back up the disk"}}"#,
        )
        .unwrap();
        let line = |req: &str| append_as_asked(&REGISTRY, &write, req).map(|i| i.command_line());
        assert_eq!(
            line("Add a line to notes.txt: back up the disk").as_deref(),
            Some("/append notes.txt back up the disk")
        );
        assert_eq!(
            line("append 'back up the disk' to notes.txt").as_deref(),
            Some("/append notes.txt back up the disk")
        );
        // A write asked for, or no addition: as the model wrote it.
        assert_eq!(line("Write 'back up the disk' to notes.txt"), None);
        assert_eq!(line("Create notes.txt and add 'back up the disk'"), None);
        assert_eq!(line("Replace notes.txt with: back up the disk"), None);
        assert_eq!(line("Put 'back up the disk' in notes.txt"), None);
        let cat = parse_call(
            &REGISTRY,
            r#"{"name": "cat", "arguments": {"path": "notes.txt"}}"#,
        )
        .unwrap();
        assert!(append_as_asked(&REGISTRY, &cat, "add notes.txt").is_none());
    }

    #[test]
    fn file_names_in_requests() {
        assert!(names_a_file("Show me plan.txt"));
        assert!(names_a_file(
            "Copy the content of notes.txt into backup.txt"
        ));
        assert!(names_a_file("What's in /drafts?"));
        assert!(!names_a_file("What does my todo list say?"));
        assert!(!names_a_file("What is 2.5 + 2?"));
        assert!(!names_a_file("Hi! How are you?"));
        assert!(!names_a_file("Is 1/2 more than 0.3?"));
        assert!(names_a_file("What's in the drafts folder?"));
        assert!(names_a_file("Make a folder called archive"));
        assert!(!names_a_file("Make a new folder"));
    }

    #[test]
    fn invented_file_contents_are_caught() {
        let write = |p: &str, t: &str| {
            format!(r#"{{"name": "write", "arguments": {{"path": "{p}", "text": "{t}"}}}}"#)
        };
        assert_eq!(
            check(
                "What's written in /notes/monday.txt?",
                &write("notes/monday.txt", "This is a test note.")
            ),
            Some("text")
        );
        assert_eq!(
            check(
                "Write 'buy milk' to shopping.txt",
                &write("shopping.txt", "buy milk")
            ),
            None
        );
        assert_eq!(
            check(
                "Start a file called ideas.txt with my first idea: a solar kettle",
                &write("ideas.txt", "A solar kettle is a kettle that uses the sun.")
            ),
            None
        );
        // Nothing to judge by.
        assert_eq!(
            check("Write 'v1' to version.txt", &write("version.txt", "v1")),
            None
        );
        let append =
            r#"{"name": "append", "arguments": {"path": "todo.txt", "text": "Buy a new car"}}"#;
        assert_eq!(check("Add to todo.txt", append), Some("text"));
    }

    #[test]
    fn invented_paths_are_caught() {
        let cat = |p: &str| format!(r#"{{"name": "cat", "arguments": {{"path": "{p}"}}}}"#);
        assert_eq!(check("Open the file.", &cat("path/to/file")), Some("path"));
        assert_eq!(check("Open the file.", &cat("file.txt")), Some("path"));
        assert_eq!(check("Delete it.", &cat("/notes.txt")), Some("path"));
        assert_eq!(check("open file.txt", &cat("file.txt")), None);
        assert_eq!(
            check("Show me what's in notes.txt", &cat("notes.txt")),
            None
        );
        assert_eq!(
            check("Show me what's in Notes.TXT", &cat("/notes.txt")),
            None
        );
        assert_eq!(check("What does my todo list say?", &cat("todo.txt")), None);
        assert_eq!(
            check("Read the file /drafts/ideas.txt", &cat("drafts/ideas.txt")),
            None
        );
        let ls = |p: &str| format!(r#"{{"name": "ls", "arguments": {{"path": "{p}"}}}}"#);
        assert_eq!(check("What's in the drafts folder?", &ls("/drafts")), None);
        assert_eq!(check("List the files", &ls("/")), None);
        assert_eq!(check("List the files", &ls("files")), Some("path"));
        let mv = r#"{"name": "mv", "arguments": {"from": "path/to/source", "to": "path/to/destination"}}"#;
        assert_eq!(check("Move that file over there.", mv), Some("from"));
        // A command's result grounds what it lists (a two-step request).
        let rm = r#"{"name": "rm", "arguments": {"path": "/drafts/old.txt"}}"#;
        assert_eq!(check("Delete it.", rm), Some("path"));
        // The request's own words are not a path unless quoted.
        let rm_text = r#"{"name": "rm", "arguments": {"path": "delete it"}}"#;
        assert_eq!(check("Delete it.", rm_text), Some("path"));
        let cat_q = r#"{"name": "cat", "arguments": {"path": "my notes.txt"}}"#;
        assert_eq!(check("open \"my notes.txt\"", cat_q), None);
        assert_eq!(check("open my notes.txt", cat_q), Some("path"));
        // An alias is a call of the command itself.
        let read = r#"{"name": "read", "arguments": {"path": "notes.txt"}}"#;
        assert_eq!(
            parse_call(&REGISTRY, read).map(|i| i.command_line()),
            Ok("/cat notes.txt".into())
        );
        assert_eq!(
            check("List the drafts folder and remove anything old\n<tool_response>\nold.txt 12\n</tool_response>", rm),
            None
        );
    }

    #[test]
    fn unasked_flags_are_dropped() {
        let rm = |p: &str| {
            format!(r#"{{"name": "rm", "arguments": {{"recursive": true, "path": "{p}"}}}}"#)
        };
        let line = |req: &str, json: &str| {
            let mut inv = parse_call(&REGISTRY, json).unwrap();
            let dropped = drop_unasked_flags(&mut inv, req);
            (inv.command_line(), dropped)
        };
        assert_eq!(
            line("rm notes.bak", &rm("notes.bak")),
            ("/rm notes.bak".into(), vec!["recursive"])
        );
        assert_eq!(
            line("Remove the file /tmp/scratch.txt", &rm("/tmp/scratch.txt")).0,
            "/rm /tmp/scratch.txt"
        );
        for asked in [
            "Clear out the drafts folder",
            "Delete the whole /old directory with everything in it",
            "rm -r drafts",
            "delete drafts recursively, recursive",
        ] {
            assert_eq!(line(asked, &rm("drafts")).1, Vec::<&str>::new(), "{asked}");
        }
    }

    #[test]
    fn invented_times_and_ids_are_caught() {
        let remind = |d: &str| {
            format!(r#"{{"name": "remind", "arguments": {{"delay": "{d}", "text": "x"}}}}"#)
        };
        assert_eq!(check("Remind me later.", &remind("500ms")), Some("delay"));
        assert_eq!(check("Set a timer.", &remind("5m")), Some("delay"));
        assert_eq!(
            check("Ping me in ten minutes to check the oven", &remind("10m")),
            None
        );
        assert_eq!(check("remind me in 30 seconds", &remind("30s")), None);
        assert_eq!(
            check("In an hour remind me to call mom", &remind("1h")),
            None
        );
        let every = r#"{"name": "every", "arguments": {"period": "1h", "command": "/date"}}"#;
        assert_eq!(check("Print the date every hour", every), None);
        let kill = |id: &str| format!(r#"{{"name": "kill", "arguments": {{"id": "{id}"}}}}"#);
        assert_eq!(check("Stop it.", &kill("1")), Some("id"));
        assert_eq!(check("Stop job 3", &kill("3")), None);
        assert_eq!(check("kill t4 please", &kill("t4")), None);
        assert_eq!(check("Stop job 4", &kill("t4")), None);
        // A reminder's text is not checked here (it comes from the
        // request: `schedule`); a file's is (an idea the person never gave).
        let remind =
            r#"{"name": "remind", "arguments": {"delay": "5m", "text": "a solar kettle"}}"#;
        assert_eq!(check("Remind me in 5 minutes", remind), None);
        let write =
            r#"{"name": "write", "arguments": {"path": "ideas.txt", "text": "a solar kettle"}}"#;
        assert_eq!(check("Start ideas.txt with my idea", write), Some("text"));
    }

    #[test]
    fn the_question_and_reason_name_the_argument() {
        let u = Ungrounded {
            arg: "path",
            value: "path/to/file".into(),
            kind: Kind::Path,
        };
        assert!(u.question().contains("Which file"));
        assert!(u.reason().contains("path/to/file"));
    }
}

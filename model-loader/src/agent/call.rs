//! A model's call, `{"name": "rm", "arguments": {"path": "/a"}}`, read into
//! an [`Invocation`] through the registry's own checks, and written back in
//! canonical form (what the conversation keeps and the audit log records).

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use klib::registry::{Invocation, Registry, Value};

use super::json::{self, write_str, Json};

/// Why a call cannot run: one line for the person, the model and the log.
#[derive(Clone, Debug, PartialEq)]
pub struct CallError(pub String);

impl core::fmt::Display for CallError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Removes what models put around a call: a ```` ```json ```` fence and
/// `<tool_call>` tags.
pub fn strip_wrapping(text: &str) -> &str {
    let mut t = text.trim();
    for (open, close) in [
        ("<tool_call>", "</tool_call>"),
        ("```json", "```"),
        ("```", "```"),
    ] {
        if let Some(rest) = t.strip_prefix(open) {
            t = rest.trim();
            if let Some(inner) = t.strip_suffix(close) {
                t = inner.trim();
            }
        }
    }
    t
}

/// Reads a call's JSON (wrapping allowed, see [`strip_wrapping`]) into an
/// invocation of a command offered to the model.
pub fn parse_call(reg: &Registry, text: &str) -> Result<Invocation, CallError> {
    let body = strip_wrapping(text);
    let v = json::parse(body).map_err(|e| CallError(format!("malformed call: {e}")))?;
    invocation_of(reg, &v)
}

/// The invocation a parsed call names.
pub fn invocation_of(reg: &Registry, v: &Json) -> Result<Invocation, CallError> {
    let Json::Obj(members) = v else {
        return Err(CallError("malformed call: not a JSON object".into()));
    };
    if let Some((k, _)) = members
        .iter()
        .find(|(k, _)| k != "name" && k != "arguments")
    {
        return Err(CallError(format!("malformed call: unexpected key {k:?}")));
    }
    let Some(Json::Str(name)) = v.get("name") else {
        return Err(CallError("malformed call: no command name".into()));
    };
    let name = name.strip_prefix('/').unwrap_or(name);
    let spec = reg
        .find_called(name)
        .ok_or_else(|| CallError(format!("unknown command {name:?}")))?;
    let empty = Json::Obj(Vec::new());
    let args = match v.get("arguments").unwrap_or(&empty) {
        Json::Obj(m) => m,
        Json::Null => match &empty {
            Json::Obj(m) => m,
            _ => unreachable!(),
        },
        _ => {
            return Err(CallError(
                "malformed call: arguments is not an object".into(),
            ))
        }
    };
    let mut named: Vec<(&str, String)> = Vec::new();
    for (k, val) in args {
        let text = match val {
            Json::Null | Json::Bool(false) => continue,
            Json::Bool(b) => b.to_string(),
            Json::Num(n) => n.clone(),
            Json::Str(s) => s.clone(),
            Json::Arr(_) | Json::Obj(_) => {
                return Err(CallError(format!(
                    "/{}: {k} must be a single value",
                    spec.name
                )))
            }
        };
        named.push((k.as_str(), text));
    }
    let named: Vec<(&str, &str)> = named.iter().map(|(k, v)| (*k, v.as_str())).collect();
    reg.invocation(spec.name, &named, false)
        .map_err(|e| CallError(e.to_string()))
}

/// The canonical JSON of an invocation: arguments in table order, flags
/// only when set, numbers as numbers.
pub fn call_json(inv: &Invocation) -> String {
    let mut s = String::from("{\"name\": ");
    write_str(&mut s, inv.spec.name);
    s.push_str(", \"arguments\": {");
    let mut first = true;
    for (a, v) in inv.spec.args.iter().zip(&inv.values) {
        let Some(v) = v else { continue };
        if matches!(v, Value::Bool(false)) {
            continue;
        }
        if !first {
            s.push_str(", ");
        }
        first = false;
        write_str(&mut s, a.name);
        s.push_str(": ");
        match v {
            Value::Int(n) => s.push_str(&n.to_string()),
            Value::Num(x) => s.push_str(&format!("{x}")),
            Value::Bool(b) => s.push_str(if *b { "true" } else { "false" }),
            v => write_str(&mut s, &v.to_text()),
        }
    }
    s.push_str("}}");
    s
}

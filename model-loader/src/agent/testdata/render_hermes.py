#!/usr/bin/env python3
"""Renders the Qwen2.5 chat template (qwen2.5-coder.jinja, read from the
GGUF's tokenizer.chat_template) with the commands of ../fixture.rs as tools,
the way transformers' apply_chat_template does (tojson = json.dumps with
ensure_ascii=False, keys in order), and writes hermes_expected.txt.
Run once: python3 render_hermes.py  (needs jinja2 from PyPI)."""
import json, os
import jinja2

here = os.path.dirname(os.path.abspath(__file__))

def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

def tool(name, desc, props, required):
    return {"type": "function", "function": {"name": name, "description": desc,
            "parameters": {"type": "object", "properties": props, "required": required}}}

tools = [
    tool("date", "the current date and time", {}, []),
    tool("rm", "remove a file or directory", {
        "recursive": {"type": "boolean", "description": "remove a directory and all it holds"},
        "path": {"type": "string", "description": "what to remove"}}, ["path"]),
    tool("write", "replace a file's content (\"text\" is written as is) \u2014 café", {
        "path": {"type": "string", "description": "the file"},
        "text": {"type": "string", "description": "its new content"}}, ["path", "text"]),
    tool("kill", "stop a job", {"job": {"type": "string", "description": "the job's name (one word)"}}, ["job"]),
    tool("top", "the busiest jobs", {
        "count": {"type": "integer", "description": "how many lines"},
        "sort": {"type": "string", "enum": ["cpu", "mem"], "description": "what to sort by"}}, []),
    tool("temp", "set the sampling temperature", {"t": {"type": "number", "description": "the temperature"}}, ["t"]),
    tool("every", "run a command repeatedly", {
        "interval": {"type": "string", "description": "how often (a duration such as 30s, 10m or 2h)"},
        "command": {"type": "string", "description": "what to run (a command line starting with /)"}}, ["interval", "command"]),
    tool("shutdown", "power the machine off", {}, []),
]

messages = [
    {"role": "system", "content": "SYSTEM PROMPT"},
    {"role": "user", "content": "remove the drafts"},
    {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {
        "name": "rm", "arguments": {"recursive": True, "path": "/drafts"}}}]},
    {"role": "tool", "content": "removed /drafts"},
    {"role": "assistant", "content": "Done."},
    {"role": "user", "content": "thanks"},
]

env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
env.filters["tojson"] = tojson
t = env.from_string(open(os.path.join(here, "qwen2.5-coder.jinja")).read())
out = t.render(messages=messages, tools=tools, add_generation_prompt=True)
open(os.path.join(here, "hermes_expected.txt"), "w").write(out)
print(out)

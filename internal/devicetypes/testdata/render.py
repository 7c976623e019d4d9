#!/usr/bin/python3
"""Reference renderer for Basalt's device-type tests.

Renders device dictionaries (or templates) with Debian's python3-jinja2 in
the environment LAVA uses for device templates (a sandboxed environment,
autoescape off, trim_blocks on, a file-system loader and three extra
filters), parses each result as YAML and answers in JSON.

Input (stdin): a JSON list of requests
    {"name": "<template to render>", "dirs": ["<search dir>", ...],
     "sources": {"<name>": "<template text>", ...},  (optional, searched first)
     "context": {...}}
Output (stdout): a JSON list of answers, in order:
    {"config": <parsed YAML>} or {"error": "<message>"}
"""
import json
import shlex
import sys

import jinja2
import jinja2.sandbox
import yaml

X86 = ("amd64", "x86_64", "i386")


def guest_fs_interface(arch, override=None):
    # an explicit interface wins; x86 PCs have IDE, other machines virtio
    if override:
        return override
    return "ide" if arch in X86 else "virtio"


def quote_yaml(value):
    # one double-quoted YAML flow scalar (or flow collection), on one line
    text = yaml.safe_dump(value, default_flow_style=True, default_style='"',
                          width=1 << 30, explicit_start=True)
    text = text[len("--- "):]
    if text.endswith("\n...\n"):
        text = text[:-len("\n...\n")]
    return text.rstrip("\n")


# One environment per search path, kept across requests so that the
# templates it parsed are reused; the inline sources of a request replace
# those of the previous one (the loader notices a changed source).
ENVIRONMENTS = {}


def environment(dirs, sources):
    key = tuple(dirs)
    if key not in ENVIRONMENTS:
        inline = {}
        env = jinja2.sandbox.SandboxedEnvironment(
            loader=jinja2.ChoiceLoader(
                [jinja2.DictLoader(inline), jinja2.FileSystemLoader(dirs)]),
            autoescape=False,
            trim_blocks=True,
        )
        env.filters["shlex_quote"] = shlex.quote
        env.filters["yaml_quote"] = quote_yaml
        env.filters["qemu_guest_fs_interface"] = guest_fs_interface
        ENVIRONMENTS[key] = (env, inline)
    env, inline = ENVIRONMENTS[key]
    inline.clear()
    inline.update(sources or {})
    return env


def answer(request):
    name = request["name"]
    env = environment(request.get("dirs", []), request.get("sources"))
    try:
        text = env.get_template(name).render(**request.get("context", {}))
    except jinja2.TemplateError as exc:
        return {"error": "render %s: %s: %s" % (name, type(exc).__name__, exc)}
    except Exception as exc:  # a template calling a missing method, etc.
        return {"error": "render %s: %s: %s" % (name, type(exc).__name__, exc)}
    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        return {"error": "parse the rendering of %s: %s" % (name, exc), "text": text}
    return {"config": data, "text": text if request.get("text") else None}


def main():
    requests = json.load(sys.stdin)
    json.dump([answer(r) for r in requests], sys.stdout, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Oracle for Basalt's internal/jinja differential tests.

Reads a JSON batch on stdin:
  {"jobs": [{"id": str, "template": name | null, "source": str | null,
             "dirs": [dir, ...] | null, "files": {name: src} | null,
             "context": {...}, "go_out": str | null}]}
and writes {"results": [{"id", "ok", "out", "err", "yaml", "go_yaml"}]}:
the render by Python Jinja2 in LAVA's environment (SandboxedEnvironment,
autoescape off, trim_blocks on, LAVA's three extra filters), the YAML of
that output as JSON, and the YAML of the Go output (same parser, so the
comparison does not depend on two YAML implementations).

The filters follow LAVA's behaviour (lava_common/jinja.py): shlex_quote is
shlex.quote, yaml_quote dumps one value as a one-line double-quoted YAML
document with PyYAML's SafeDumper, qemu_guest_fs_interface picks "ide" for
x86 architectures and "virtio" otherwise unless an interface is given.
"""
import io
import json
import shlex
import sys

import jinja2
import yaml
from jinja2.sandbox import SandboxedEnvironment

X86 = ("amd64", "x86_64", "i386")


def qemu_guest_fs_interface(arch, guestfs_interface=None):
    if guestfs_interface:
        return guestfs_interface
    return "ide" if arch in X86 else "virtio"


def yaml_quote(obj):
    stream = io.StringIO()
    dumper = yaml.SafeDumper(stream, default_flow_style=True, width=2**31 - 1,
                             default_style='"', explicit_start=True,
                             explicit_end=False)
    dumper.open()
    dumper.represent(obj)
    return stream.getvalue()[4:-1]


def make_env(loader):
    env = SandboxedEnvironment(loader=loader, autoescape=False, trim_blocks=True, cache_size=-1)
    env.filters["shlex_quote"] = shlex.quote
    env.filters["yaml_quote"] = yaml_quote
    env.filters["qemu_guest_fs_interface"] = qemu_guest_fs_interface
    return env


LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def yaml_json(text):
    try:
        return json.dumps(yaml.load(text, Loader=LOADER), sort_keys=False, default=repr)
    except Exception as exc:  # noqa: BLE001 - any YAML failure is a result
        return "YAMLERROR: " + type(exc).__name__


def main():
    batch = json.load(sys.stdin)
    envs = {}
    results = []
    for job in batch["jobs"]:
        if job.get("files") is not None:
            env = make_env(jinja2.DictLoader(job["files"]))
        else:
            key = tuple(job.get("dirs") or ())
            if key not in envs:
                envs[key] = make_env(jinja2.FileSystemLoader(list(key)))
            env = envs[key]
        res = {"id": job["id"], "ok": False, "out": "", "err": "", "yaml": None, "go_yaml": None}
        try:
            if job.get("source") is not None:
                tmpl = env.from_string(job["source"])
            else:
                tmpl = env.get_template(job["template"])
            res["out"] = tmpl.render(**(job.get("context") or {}))
            res["ok"] = True
            if job.get("want_yaml"):
                res["yaml"] = yaml_json(res["out"])
        except Exception as exc:  # noqa: BLE001 - every error is a result
            res["err"] = "%s: %s" % (type(exc).__name__, exc)
        if job.get("go_out") is not None and job.get("want_yaml"):
            if res["ok"] and job["go_out"] == res["out"]:
                res["go_yaml"] = res["yaml"]
            else:
                res["go_yaml"] = yaml_json(job["go_out"])
        results.append(res)
    json.dump({"results": results}, sys.stdout)


if __name__ == "__main__":
    main()

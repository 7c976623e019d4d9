#!/usr/bin/python3
# Regenerates records.yaml from records.ndjson with LAVA's own dumper
# settings (lava_common/log.py: PyYAML's C safe dumper, default_style='"',
# default_flow_style=True, width=10**5, keys in order), each record read by
# json.loads, its "dt" turned into Python's isoformat of the UTC time as
# LAVA writes it, the measurement of a results record into the float
# LAVA's dispatcher logs (float(measurement)), and a line that is not a
# record written as {"dt": "", "lvl": "debug", "msg": <the line>}.
# Usage: cd internal/lavalog/testdata && /usr/bin/python3 gen.py
import datetime
import json

import yaml


def record(line):
    try:
        rec = json.loads(line)
    except ValueError:
        rec = None
    if not isinstance(rec, dict) or depth(rec) > 100:
        return {"dt": "", "lvl": "debug", "msg": line}
    if isinstance(rec.get("dt"), str):
        try:
            dt = datetime.datetime.fromisoformat(rec["dt"].replace("Z", "+00:00"))
            if dt.tzinfo is not None:
                rec["dt"] = dt.astimezone(datetime.timezone.utc).isoformat()
        except ValueError:
            pass
    if rec.get("lvl") == "results" and isinstance(rec.get("msg"), dict):
        m = rec["msg"].get("measurement")
        if isinstance(m, str):
            try:
                rec["msg"]["measurement"] = float(m)
            except ValueError:
                pass
    return rec


def depth(v):
    """The nesting of v, a scalar being 1 (Basalt's bound is 100)."""
    if isinstance(v, dict):
        return 1 + max(map(depth, v.values()), default=0)
    if isinstance(v, list):
        return 1 + max(map(depth, v), default=0)
    return 1


with open("records.ndjson") as src, open("records.yaml", "w") as dst:
    for line in src:
        text = yaml.dump(record(line.rstrip("\r\n")), Dumper=yaml.CSafeDumper, default_flow_style=True,
                         default_style='"', width=10**5, sort_keys=False)
        dst.write("- " + text)

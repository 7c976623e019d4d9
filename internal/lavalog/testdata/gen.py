#!/usr/bin/python3
# Regenerates records.yaml from records.ndjson with LAVA's own dumper
# settings (lava_common/log.py: PyYAML's C safe dumper, default_style='"',
# default_flow_style=True, width=10**5, keys in order), each record's "dt"
# turned into Python's isoformat of the UTC time as LAVA writes it.
# Usage: cd internal/lavalog/testdata && /usr/bin/python3 gen.py
import datetime
import json

import yaml

with open("records.ndjson") as src, open("records.yaml", "w") as dst:
    for line in src:
        rec = json.loads(line)
        dt = datetime.datetime.fromisoformat(rec["dt"].replace("Z", "+00:00"))
        rec["dt"] = dt.astimezone(datetime.timezone.utc).isoformat()
        text = yaml.dump(rec, Dumper=yaml.CSafeDumper, default_flow_style=True,
                         default_style='"', width=10**5, sort_keys=False)
        dst.write("- " + text)

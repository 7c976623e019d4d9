"""Drives Debian's lava-coordinator (class LavaCoordinator) without sockets,
for the differential test (differential_test.go).

Reads one JSON command per line on stdin:
  {"reset": true}        a fresh coordinator (no groups)
  {"req": {...}}         one request, as a LAVA client sends it
and writes one JSON line per command:
  {"reply": <answer or null when none was sent>, "groups": {...}}
  {"crash": "<exception>"} when the daemon would have died (the
                           coordinator is then fresh, as after a restart)
The answer is read back from what the coordinator wrote to its connection:
an 8-character upper-case hexadecimal length, then the JSON.
"""

import json
import logging
import sys

from lava.coordinator import LavaCoordinator

logging.disable(logging.CRITICAL)


class Connection:
    def __init__(self):
        self.data = b""
        self.closed = False

    def send(self, data):
        self.data += data
        return len(data)

    def close(self):
        self.closed = True


def fresh():
    coord = LavaCoordinator("localhost", 3079, 4096)
    coord.all_groups = {}  # the class attribute would be shared
    return coord


def groups(coord):
    out = {}
    for name, g in coord.all_groups.items():
        out[name] = {
            "count": g["count"],
            "complete": g["complete"],
            "clients": g["clients"],
            "roles": g["roles"],
        }
    return out


def main():
    coord = fresh()
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd.get("reset"):
            coord = fresh()
            print(json.dumps({"reply": None, "groups": {}}), flush=True)
            continue
        conn = Connection()
        coord.conn = conn
        try:
            coord.dataReceived(cmd["req"])
        except Exception as exc:  # the daemon's loop does not catch it
            print(json.dumps({"crash": repr(exc)}), flush=True)
            coord = fresh()
            continue
        reply = None
        if conn.data:
            header, body = conn.data[:8].decode(), conn.data[8:]
            if header != "%08X" % len(body):
                print(json.dumps({"crash": "bad header %r for %d bytes" % (header, len(body))}), flush=True)
                continue
            reply = json.loads(body)
        print(json.dumps({"reply": reply, "groups": groups(coord)}), flush=True)


main()

"""One side of a two-node multinode job, spoken by Debian's lava-dispatcher
(MultinodeProtocol, the class lava-run uses) to the coordinator the test
serves (reallava_test.go).

Usage: lava_multinode_job.py CONF ROLE JOB_ID GROUP
CONF is a lava-coordinator.conf (JSON: coordinator_hostname, port,
poll_delay, blocksize). The protocol reads its configuration from
/etc/lava-coordinator/lava-coordinator.conf; this harness points that
one path at CONF (and nothing else). It prints one JSON object: what each
call returned.
"""

import json
import logging
import os.path
import sys
from unittest import mock

from lava_dispatcher.protocols.multinode import MultinodeProtocol

CONF_PATH = "/etc/lava-coordinator/lava-coordinator.conf"

conf, role, job_id, group = sys.argv[1:5]
logging.basicConfig(stream=sys.stderr, level=logging.DEBUG, format=job_id + " %(message)s")

params = {"target_group": group, "role": role, "group_size": 2, "sub_id": job_id,
          "roles": {"1001": "server", "1002": "client"}}
if role == "client":
    # LAVA's delayed start: the client's set_up waits until the server
    # sends lava_start (lava_wait_all with waitrole).
    params.update({"request": "lava-start", "expect_role": "server", "timeout": {"minutes": 2}})
parameters = {"protocols": {"lava-multinode": params}}


class Protocol(MultinodeProtocol):
    def read_settings(self, filename):
        assert filename == CONF_PATH, filename
        return super().read_settings(conf)


real_exists = os.path.exists
proto = Protocol(parameters, job_id)
assert Protocol.accepts(parameters)
with mock.patch("os.path.exists", lambda p: p == CONF_PATH or real_exists(p)):
    proto.set_up()  # group_data; for the client also lava_wait_all lava_start
out = {"set_up": "done"}


def call(name, request):
    out[name] = proto(request)


if role == "server":
    call("lava_start", {"request": "lava-send", "messageID": "lava_start"})
    call("send", {"request": "lava-send", "messageID": "server-ready",
                  "message": {"ipaddr": "10.0.0.5", "port": "8080"}})
    call("sync", {"request": "lava-sync", "messageID": "barrier"})
    call("wait", {"request": "lava-wait", "messageID": "client-done"})
    call("send_bye", {"request": "lava-send", "messageID": "bye", "message": {"from": "server"}})
    call("wait_all", {"request": "lava-wait-all", "messageID": "bye"})
else:
    call("wait", {"request": "lava-wait", "messageID": "server-ready"})
    call("sync", {"request": "lava-sync", "messageID": "barrier"})
    call("send", {"request": "lava-send", "messageID": "client-done", "message": {"result": "pass"}})
    call("send_bye", {"request": "lava-send", "messageID": "bye", "message": {"from": "client"}})
    call("wait_all", {"request": "lava-wait-all", "messageID": "bye"})
    # Once the server's bye is in (LAVA answers a waitrole as soon as the
    # caller's own role sent it, whatever the waitrole did).
    call("wait_all_role", {"request": "lava-wait-all", "messageID": "bye", "role": "server"})
proto.finalise_protocol()  # clear_group
out["finalise"] = "done"
print(json.dumps(out, sort_keys=True))

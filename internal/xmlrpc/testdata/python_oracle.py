# Python's xmlrpc.client as the reference for Basalt's codec (Debian's
# python3, at test time). Reads JSON requests on stdin, one per line:
#   {"op": "dumps_call", "method": M, "params": P}  -> the XML text
#   {"op": "loads", "xml": X}                        -> {"value": V} or {"fault": [code, msg]}
# JSON cannot carry every XML-RPC type, so tagged objects stand in:
#   {"$binary": base64}, {"$datetime": "20261206T12:00:00"}
import base64, json, sys, xmlrpc.client

def to_py(v):
    if isinstance(v, dict):
        if "$binary" in v:
            return xmlrpc.client.Binary(base64.b64decode(v["$binary"]))
        if "$datetime" in v:
            return xmlrpc.client.DateTime(v["$datetime"])
        return {k: to_py(x) for k, x in v.items()}
    if isinstance(v, list):
        return [to_py(x) for x in v]
    return v

def from_py(v):
    if isinstance(v, xmlrpc.client.Binary):
        return {"$binary": base64.b64encode(v.data).decode()}
    if isinstance(v, xmlrpc.client.DateTime):
        return {"$datetime": v.value}
    if isinstance(v, dict):
        return {k: from_py(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [from_py(x) for x in v]
    return v

for line in sys.stdin:
    req = json.loads(line)
    try:
        if req["op"] == "dumps_call":
            out = {"xml": xmlrpc.client.dumps(tuple(to_py(req["params"])), methodname=req["method"], allow_none=True)}
        else:
            params, _ = xmlrpc.client.loads(req["xml"])
            out = {"value": from_py(params[0])}
    except xmlrpc.client.Fault as f:
        out = {"fault": [f.faultCode, f.faultString]}
    except Exception as e:
        out = {"error": "%s: %s" % (type(e).__name__, e)}
    print(json.dumps(out), flush=True)

#!/usr/bin/env python3
"""A minimal walcheck adapter: one JSON line per batch, fsync before every ack."""
import errno, fcntl, json, os, sys

state, last_seq, log, lock = {}, 0, None, None

def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

def is_record(line):
    try:
        return "seq" in json.loads(line)
    except (ValueError, TypeError):
        return False

def apply(ops):
    for op in ops:
        if op["value"] is None:
            state.pop(op["key"], None)
        else:
            state[op["key"]] = op["value"]

def open_wal(d):
    global log, lock, last_seq
    os.makedirs(d, exist_ok=True)
    lock = open(os.path.join(d, "LOCK"), "a")
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a second opener gets EWOULDBLOCK
    path = os.path.join(d, "wal.jsonl")
    data = open(path, "rb").read() if os.path.exists(path) else b""
    good = 0
    while (nl := data.find(b"\n", good)) >= 0:
        try:
            rec = json.loads(data[good:nl])
            if rec["seq"] != last_seq + 1:
                break
        except (ValueError, KeyError, TypeError):
            break  # a torn or garbled last line: never acknowledged
        apply(rec["ops"])
        last_seq, good = rec["seq"], nl + 1
    if any(is_record(rest) for rest in data[good:].split(b"\n")[1:]):
        # damage in the middle, not a torn last line: cutting here would drop acknowledged batches
        return {"error": {"code": "WAL_CORRUPT", "message": f"{path}: bad line at byte {good}, records after it"}}
    log = open(path, "ab")
    if good < len(data):
        log.truncate(good)
        os.fsync(log.fileno())
    fsync_dir(d)  # the log file's directory entry is durable too
    return {"lastSeq": last_seq}

def append(ops):
    global last_seq
    line = {"seq": last_seq + 1, "ops": ops}
    log.write(json.dumps(line, ensure_ascii=False).encode() + b"\n")
    log.flush()
    os.fsync(log.fileno())  # durable before the ack
    last_seq += 1
    apply(ops)
    return {"seq": last_seq}

def handle(req):
    op = req["op"]
    if op == "hello":
        return {"name": "my-wal", "protocol": 1, "durability": "power", "features": []}
    if op == "open":
        return open_wal(req["dir"])
    if op == "append":
        return append(req["ops"])
    if op == "read":
        return {"lastSeq": last_seq, "state": state}
    if op == "close":
        log.close()
        return {}
    return {"error": {"code": "EUNSUPPORTED", "message": f"no op {op}"}}

for line in sys.stdin:
    req = json.loads(line)
    try:
        result = handle(req)
        reply = {"id": req["id"], "ok": "error" not in result, **result}
    except OSError as e:
        code = errno.errorcode.get(e.errno, "EIO")
        reply = {"id": req["id"], "ok": False, "error": {"code": code, "message": str(e)}}
    print(json.dumps(reply, ensure_ascii=False), flush=True)
    if req["op"] == "close":
        break

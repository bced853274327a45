#!/usr/bin/env python3
"""A walcheck adapter with checksummed records (Python 3, standard library only).

    npx walcheck run --adapter-cmd "python3 examples/python/wal.py"

On disk, <dir>/wal.log is a run of records, each

    length  u32 little-endian   bytes of the payload (never 0)
    crc     u32 little-endian   CRC-32 of the 4 length bytes followed by the payload
    payload                     UTF-8 JSON {"seq": n, "ops": [{"key": k, "value": v|null}]}

The CRC covers the length, so a run of zeros (a preallocated or half-written block) is not a
valid record: the CRC-32 of four zero bytes is 0x2144DF1C, not 0.

Where a WAL usually goes wrong, and what this one does:
- ack before fsync: every append is written and fsynced before its answer is sent;
- a new file's name is lost in a power cut: the directory is fsynced after the log is created;
- a torn tail is "repaired" by appending after it: recovery truncates it (and fsyncs) first;
- corruption in the middle is mistaken for a torn tail, and acked records after it are cut:
  when a damaged record is followed by any valid record, open refuses with WAL_CORRUPT;
- two processes append to one log: an exclusive flock on <dir>/LOCK, which the kernel drops
  when the holder dies (a lock file made with O_EXCL would outlive a SIGKILL);
- acking after a failed write: once an append fails, every later append is refused.
"""
import errno, fcntl, json, os, struct, sys, time, zlib

HEADER = 8
state, last_seq, log, lock, failed = {}, 0, None, None, False


class WalError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def encode(seq, ops):
    payload = json.dumps({"seq": seq, "ops": ops}, ensure_ascii=False).encode()
    length = struct.pack("<I", len(payload))
    return length + struct.pack("<I", zlib.crc32(length + payload)) + payload


def record_at(data, off):
    """The payload of a valid record at `off`, or None."""
    if off + HEADER > len(data):
        return None
    length, crc = struct.unpack_from("<II", data, off)
    end = off + HEADER + length
    if length == 0 or end > len(data):
        return None
    if zlib.crc32(data[off : off + 4] + data[off + HEADER : end]) != crc:
        return None
    return data[off + HEADER : end]


def apply(ops):
    for op in ops:
        if op["value"] is None:
            state.pop(op["key"], None)
        else:
            state[op["key"]] = op["value"]


def recover(data):
    """Replay the valid records; return the length of the good prefix."""
    global last_seq
    off = 0
    while off < len(data):
        payload = record_at(data, off)
        if payload is None:
            break
        rec = json.loads(payload)
        if rec["seq"] != last_seq + 1:
            raise WalError("WAL_CORRUPT", f"record at byte {off} has seq {rec['seq']}, expected {last_seq + 1}")
        apply(rec["ops"])
        last_seq = rec["seq"]
        off += HEADER + len(payload)
    # The bytes from `off` on are damaged. If a valid record follows anywhere after them, this
    # is rot in the middle of the log, not a torn write: cutting here would drop acked batches.
    # (A byte-by-byte scan is slow on a big log, but it runs only when there is damage.)
    for later in range(off + 1, len(data) - HEADER):
        if record_at(data, later) is not None:
            raise WalError("WAL_CORRUPT", f"damaged record at byte {off} of wal.log, valid records after it")
    return off


def open_wal(d, config):
    global log, lock
    started = time.monotonic()
    os.makedirs(d, exist_ok=True)
    lock = open(os.path.join(d, "LOCK"), "a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise WalError("WAL_LOCKED", f"{d} is open in another process")
    path = os.path.join(d, "wal.log")
    data = open(path, "rb").read() if os.path.exists(path) else b""
    good = recover(data)
    log = open(path, "ab")
    if good < len(data):
        log.truncate(good)  # cut the torn tail before anything is appended after it
        os.fsync(log.fileno())
    fsync_dir(d)  # the names LOCK and wal.log are durable too
    recovery = {
        "elapsedMs": (time.monotonic() - started) * 1000,
        "recordsReplayed": last_seq,
        "bytesDiscarded": len(data) - good,
    }
    return {"lastSeq": last_seq, "recovery": recovery}


def append(ops):
    global last_seq, failed
    if failed:
        raise WalError("EIO", "an earlier append failed; reopen to recover")
    try:
        log.write(encode(last_seq + 1, ops))
        log.flush()
        os.fsync(log.fileno())  # durable before the ack
    except OSError:
        # After a failed write or fsync the kernel may have dropped the data: a later fsync
        # cannot bring it back, so nothing after this append may be acknowledged.
        failed = True
        raise
    last_seq += 1
    apply(ops)
    return {"seq": last_seq}


def handle(req):
    op = req["op"]
    if op == "hello":
        features = ["checksums", "recovery-stats"]
        return {"name": "python-wal", "protocol": 1, "durability": "power", "features": features}
    if op == "open":
        return open_wal(req["dir"], req.get("config", {}))
    if op == "append":
        return append(req["ops"])
    if op == "read":
        return {"lastSeq": last_seq, "state": state}
    if op == "close":
        log.close()
        lock.close()
        return {}
    raise WalError("EUNSUPPORTED", f"no op {op}")


for line in sys.stdin:
    if not line.strip():
        continue
    req = json.loads(line)
    try:
        reply = {"id": req["id"], "ok": True, **handle(req)}
    except WalError as e:
        reply = {"id": req["id"], "ok": False, "error": {"code": e.code, "message": str(e)}}
    except OSError as e:
        code = errno.errorcode.get(e.errno, "EIO")
        reply = {"id": req["id"], "ok": False, "error": {"code": code, "message": str(e)}}
    print(json.dumps(reply, ensure_ascii=False), flush=True)
    if req["op"] == "close":
        break

#!/usr/bin/env python3
"""SQLite driven from a second language: Python's own sqlite3 module, standard library only.

    python3 examples/engines/sqlite_py.py --journal wal|delete --synchronous extra|full|normal|off

The same model as examples/engines/sqlite.mjs (better-sqlite3): the key-value state in one table,
one BEGIN IMMEDIATE transaction per append writing the ops and the seq (in a meta table), so seq
and data commit together; `check` is PRAGMA quick_check; in WAL mode, checkpoints are
PRAGMA wal_checkpoint(PASSIVE|TRUNCATE). The durability it declares is what SQLite's
documentation promises for the configuration (https://www.sqlite.org/pragma.html#pragma_synchronous):

- EXTRA: "like FULL with the addition that the directory containing a rollback journal is synced
  after that journal is unlinked to commit a transaction in DELETE mode" -> power.
- FULL: "ensure that all content is safely written to the disk surface prior to continuing". In
  WAL mode the commit is the synced WAL frame -> power. In DELETE mode the commit is the journal's
  unlink, which only EXTRA syncs: a power loss right after a commit may roll it back -> process.
- NORMAL: "A transaction committed in WAL mode with synchronous=NORMAL might roll back following
  a power loss or system crash"; in DELETE mode a power loss "could corrupt the database" ->
  process. "Transactions are durable across application crashes regardless of the synchronous
  setting or journal mode."
- OFF: "If the application running SQLite crashes, the data will be safe" -> process.
"""
import json
import os
import sqlite3
import sys
import time

JOURNALS = ("wal", "delete")
SYNCS = ("extra", "full", "normal", "off")


def usage(message):
    sys.stderr.write(
        f"sqlite_py.py: {message}\n"
        "usage: python3 examples/engines/sqlite_py.py --journal wal|delete --synchronous extra|full|normal|off\n"
    )
    sys.exit(2)


def parse_args(argv):
    opts = {}
    allowed = {"--journal": JOURNALS, "--synchronous": SYNCS}
    i = 0
    while i < len(argv):
        flag = argv[i]
        if flag not in allowed:
            usage(f"unknown flag {flag}")
        if i + 1 >= len(argv) or argv[i + 1] not in allowed[flag]:
            usage(f"{flag} takes one of {', '.join(allowed[flag])}")
        opts[flag[2:]] = argv[i + 1]
        i += 2
    if "journal" not in opts or "synchronous" not in opts:
        usage("--journal and --synchronous are required")
    return opts["journal"], opts["synchronous"]


JOURNAL, SYNC = parse_args(sys.argv[1:])
WAL = JOURNAL == "wal"


def durability():
    if SYNC == "extra" or (SYNC == "full" and WAL):
        return "power"
    return "process"


db = None


def hello():
    # recover: a crash state opened, read, checked and closed in this long-lived process, as a
    # fresh one would (walcheck cross-checks one in 16 against a fresh process).
    features = ["check", "shared", "recover"]
    if WAL:
        features += ["checkpoint", "checkpoint.truncate"]
    return {
        "name": f"sqlite {sqlite3.sqlite_version} (Python sqlite3, journal_mode={JOURNAL.upper()}, synchronous={SYNC.upper()})",
        "protocol": 1,
        "durability": durability(),
        "features": features,
        "points": [],
    }


def read_seq():
    row = db.execute("select seq from meta where name = 'seq'").fetchone()
    return row[0] if row else 0


def open_wal(d):
    global db
    if db is not None:
        raise WalError("WAL_INVALID", "the WAL is already open")
    os.makedirs(d, exist_ok=True)
    # isolation_level=None: no implicit transactions; every BEGIN below is ours.
    conn = sqlite3.connect(os.path.join(d, "kv.sqlite"), timeout=10, isolation_level=None)
    try:
        conn.execute(f"pragma journal_mode = {JOURNAL}")
        conn.execute(f"pragma synchronous = {SYNC}")
        conn.execute("create table if not exists kv (key text primary key, value text not null)")
        conn.execute("create table if not exists meta (name text primary key, seq integer not null)")
    except Exception:
        conn.close()
        raise
    db = conn
    return {"lastSeq": read_seq()}


def append(ops):
    # BEGIN IMMEDIATE takes the write lock first, so the seq read below is the one this commit follows.
    db.execute("begin immediate")
    try:
        seq = read_seq() + 1
        for op in ops:
            if op["value"] is None:
                db.execute("delete from kv where key = ?", (op["key"],))
            else:
                db.execute(
                    "insert into kv (key, value) values (?, ?) on conflict(key) do update set value = excluded.value",
                    (op["key"], op["value"]),
                )
        db.execute(
            "insert into meta (name, seq) values ('seq', ?) on conflict(name) do update set seq = excluded.seq",
            (seq,),
        )
        db.execute("commit")
    except Exception:
        db.execute("rollback")
        raise
    return {"seq": seq}


def read():
    # One read transaction: lastSeq and state from the same snapshot.
    db.execute("begin")
    try:
        state = {k: v for k, v in db.execute("select key, value from kv")}
        last = read_seq()
    finally:
        db.execute("commit")
    return {"lastSeq": last, "state": state}


def checkpoint(mode):
    t0 = time.perf_counter()
    busy, log, done = db.execute(f"pragma wal_checkpoint({'truncate' if mode == 'truncate' else 'passive'})").fetchone()
    return {
        "stats": {
            "logFrames": max(0, log),
            "checkpointedFrames": max(0, done),
            "elapsedMs": (time.perf_counter() - t0) * 1000,
        }
    }


def check():
    return {"result": [row[0] for row in db.execute("pragma quick_check")]}


def close():
    global db
    if db is not None:
        db.close()
        db = None
    return {}


def recover(d):
    if db is not None:
        raise WalError("WAL_INVALID", "recover is for a process that has not opened a WAL")
    try:
        opened = open_wal(d)
        state = read()
        return {"lastSeq": opened["lastSeq"], "state": state["state"], "check": check()["result"]}
    finally:
        close()


class WalError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def handle(req):
    op = req["op"]
    if op == "hello":
        return hello()
    if op == "close":
        return close()
    if op == "open":
        return open_wal(req["dir"])
    if op == "recover":
        return recover(req["dir"])
    if db is None:
        raise WalError("WAL_CLOSED", "open must come first")
    if op == "append":
        return append(req["ops"])
    if op == "read":
        return read()
    if op == "check":
        return check()
    if op == "checkpoint" and WAL:
        return checkpoint(req.get("mode"))
    raise WalError("EUNSUPPORTED", f"no op {op}")


for line in sys.stdin:
    if not line.strip():
        continue
    req = json.loads(line)
    try:
        reply = {"id": req["id"], "ok": True, **handle(req)}
    except WalError as e:
        reply = {"id": req["id"], "ok": False, "error": {"code": e.code, "message": str(e)}}
    except sqlite3.Error as e:
        # SQLITE_BUSY and friends: an error answer the scenario judges, never a dead process.
        code = getattr(e, "sqlite_errorname", None) or "SQLITE_ERROR"
        reply = {"id": req["id"], "ok": False, "error": {"code": code, "message": str(e)}}
    except OSError as e:
        reply = {"id": req["id"], "ok": False, "error": {"code": "EIO", "message": str(e)}}
    sys.stdout.write(json.dumps(reply, ensure_ascii=False) + "\n")
    sys.stdout.flush()
    if req["op"] == "close":
        break

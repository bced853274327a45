"""Where a Python adapter made each file-system call, for the attribution of a power-loss failure.

walcheck puts this directory first on PYTHONPATH for a recorded life (with WALCHECK_FS_TRACE and
WALCHECK_FS_TRACE_STACKS=1), so that Python imports it at start-up as `sitecustomize`. Before each
call that can change a file (found by audit hooks, PEP 578, and by a profile function for the
calls that raise no audit event: writes, flushes, truncates and fsyncs), it appends one JSON line
to WALCHECK_FS_TRACE in the format of walcheck's Node fs preload:

    {"call": "open", "path": "/abs/wal.log", "stack": ["append (/app/wal.py:87:1)", ...]}

The power-loss recorder (recorder.c) notes the size of that file with every op it records, so
walcheck matches each recorded op to the last call of a kind that can make it (where.ts). The
frames are the program's, innermost first; this file's and the standard library's are left out.

Nothing happens without both variables. Python started with -S (no site) or -I (PYTHONPATH
ignored) does not load this file; such an adapter gets native frames only. A sitecustomize of
the user's own, further on sys.path, is loaded after this one.
"""

import os
import sys


def _start():
    trace = os.environ.get("WALCHECK_FS_TRACE")
    if not trace or os.environ.get("WALCHECK_FS_TRACE_STACKS") != "1":
        return
    # Child processes (a wrapper's python) keep the variables: each appends to the same file.
    fd = os.open(trace, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    here = os.path.abspath(__file__)
    stdlib = os.path.dirname(os.__file__)
    busy = [False]
    write_modes = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

    def frames(frame):
        kept = []
        while frame is not None and len(kept) < 4:
            code = frame.f_code
            f = code.co_filename
            if f != here and not f.startswith(stdlib) and not f.startswith("<"):
                kept.append("%s (%s:%d:1)" % (code.co_name, os.path.abspath(f), frame.f_lineno))
            frame = frame.f_back
        return kept

    def emit(call, path=None, dest=None, frame=None):
        if busy[0]:
            return
        busy[0] = True
        try:
            import json

            entry = {"call": call}
            if path is not None:
                entry["path"] = path
            if dest is not None:
                entry["dest"] = dest
            entry["stack"] = frames(frame if frame is not None else sys._getframe(2))
            os.write(fd, (json.dumps(entry) + "\n").encode())
        except Exception:
            pass
        finally:
            busy[0] = False

    def as_path(p, dir_fd=None):
        if isinstance(p, int):
            return None
        try:
            p = os.fsdecode(os.fspath(p))
        except TypeError:
            return None
        if dir_fd is not None and not os.path.isabs(p):
            try:
                return os.path.join(os.readlink("/proc/self/fd/%d" % dir_fd), p)
            except OSError:
                return None
        return os.path.abspath(p)

    def audit(event, args):
        if busy[0]:
            return
        if event == "open":
            path, mode, flags = (tuple(args) + (None, None, None))[:3]
            writes = (isinstance(flags, int) and flags & write_modes) or (
                isinstance(mode, str) and any(c in mode for c in "wax+")
            )
            if writes and path is not None:
                emit("open", as_path(path))
        elif event == "os.rename":
            emit("rename", as_path(args[0], args[2]), as_path(args[1], args[3]))
        elif event == "os.remove":
            emit("unlink", as_path(args[0], args[1]))
        elif event == "os.rmdir":
            emit("rmdir", as_path(args[0], args[1]))
        elif event == "os.mkdir":
            emit("mkdir", as_path(args[0], args[2]))
        elif event == "os.link":
            emit("link", as_path(args[0], args[2]), as_path(args[1], args[3]))
        elif event == "os.truncate":
            emit("truncate" if not isinstance(args[0], int) else "ftruncate", as_path(args[0]))

    # The calls that raise no audit event, by the name of the C function or method called.
    calls = {
        "write": "write",
        "writelines": "write",
        "pwrite": "write",
        "writev": "write",
        "pwritev": "write",
        "flush": "write",
        "close": "write",
        "fsync": "fsync",
        "fdatasync": "fdatasync",
        "truncate": "ftruncate",
        "ftruncate": "ftruncate",
    }

    def profile(frame, event, arg):
        if event != "c_call" or busy[0]:
            return
        call = calls.get(getattr(arg, "__name__", ""))
        if call is None:
            return
        owner = getattr(arg, "__self__", None)
        if owner is os or owner is sys.modules.get("posix"):
            if call == "write" and arg.__name__ in ("close", "flush", "writelines"):
                return
            emit(call, frame=frame)
        elif hasattr(owner, "fileno") and hasattr(owner, "mode"):
            # A file object: its writes reach the file at flush or close at the latest. Not the
            # standard streams (the adapter's answers), nor a file opened only to read.
            name = getattr(owner, "name", None)
            if isinstance(name, int) and name <= 2 or isinstance(name, str) and name.startswith("<"):
                return
            mode = getattr(owner, "mode", "")
            if isinstance(mode, str) and any(c in mode for c in "wax+"):
                emit(call, as_path(name) if isinstance(name, str) else None, frame=frame)

    sys.addaudithook(audit)
    sys.setprofile(profile)
    import threading

    threading.setprofile(profile)


try:
    _start()
except Exception:  # never stop the adapter over its attribution
    pass


def _next_sitecustomize():
    """Load the sitecustomize this one shadows, if there is one further on sys.path."""
    import importlib.machinery
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or ".") != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)


_next_sitecustomize()

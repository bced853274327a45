// fs crash points: kill a Node.js process at its k-th mutating file-system call, with no
// change to its code. Load it with NODE_OPTIONS="--import <file URL or absolute path of
// dist/harness/faults/fs-preload.js>" and start the adapter as `node …` itself: the first Node
// process that loads this module owns the counter (see "Environment" below).
//
// Environment (read once at load):
//   WALCHECK_FS_CRASH=<k>:<before|after|mid>   k >= 1; anything else throws at load.
//     before  SIGKILL at the k-th counted call, before it is performed.
//     after   perform the k-th call through its synchronous equivalent (fs.<name>Sync, with the
//             FileHandle's fd for FileHandle methods), so its effect has reached the kernel
//             when it returns; then SIGKILL. The original async call is never started. The one
//             exception is a promise/FileHandle writeFile or appendFile whose data is an
//             iterable or stream (no sync equivalent): it runs as usual and the process is
//             killed when it settles.
//     mid     write-like calls (write, writev, writeFile, appendFile) whose data is a string or
//             an ArrayBufferView: synchronously write the first floor(n/2) of their n bytes
//             (a 1-byte write writes nothing) to the same fd and position, or, for a path,
//             with fs.writeFileSync/appendFileSync and the call's own options (same flag, so
//             the file is created or truncated even when the prefix is empty); then SIGKILL.
//             Any other call, or data that is an iterable or stream: as `before`.
//     The process never gets past the k-th call: should a counted call still be made after it
//     (only possible in the async `after` exception), it is treated as `before`.
//   WALCHECK_FS_TRACE=<path>
//     Append one JSON line per counted call, written with a synchronous write() before the
//     call is performed, so a SIGKILL never loses it:
//     {"i":<1-based index>,"call":<form>,"path"?,"dest"?,"fd"?,"flags"?,"bytes"?,"crash"?,"fault"?}
//     call is "writeSync" (sync), "write" (callback), "promises.writeFile" or
//     "FileHandle.write"; path/fd is the first argument (a path as given, not resolved), dest
//     the second path of rename/link/symlink/copyFile, flags those of open, bytes the length
//     of a write-like call's data; crash ("before"/"after"/"mid") marks the call that fired.
//     fault (see WALCHECK_FS_FAULT) is the error code the call failed with, or "slow-fsync".
//   WALCHECK_FS_TRACE_STACKS=1 (with WALCHECK_FS_TRACE): each line also has "stack", the
//     program's innermost frames at the call (up to 4, Node's and walcheck's own left out), as
//     V8 prints them: "newSegment (file:///app/wal.mjs:110:14)". The power-loss recorder uses
//     them to say where the adapter issued an op (harness/faults/power/where.ts).
//   WALCHECK_FS_FAULT=<kind>[,release=<absolute path>]   anything else throws at load.
//     Makes counted calls fail the way a sick file system does, with the error Node itself
//     would report (code, errno, syscall, path, dest, message): thrown by sync forms, passed
//     to the callback on a later tick by callback forms, a rejection for promise forms and
//     FileHandle methods. A faulted call is still counted and traced, so a WALCHECK_FS_CRASH
//     arm works alongside; should the crash fire at a faulted call, `after` and `mid` leave
//     only what the fault does to the disk (enospc's prefix, eio-fsync's cut).
//     enospc:<bytes>  disk full after <bytes> (>= 0) bytes of write-like calls (write, writev,
//             writeFile, appendFile, in every form). The call that would go past the budget
//             writes only the bytes that still fit, as `mid` writes its prefix (a writeFile
//             or appendFile to a path opens it with its own flag first, so "w" truncates it),
//             then fails with ENOSPC; so does every later write-like call, writing nothing
//             (but, again, opening a path). Data of unknown size (an iterable or stream) does
//             not fit. Opening, creating, renaming, removing and syncing still work.
//     erofs   read-only file system: every counted call but close, fsync and fdatasync fails
//             with EROFS before it is performed (open only counts when opensForWriting).
//     eacces-dir     no write permission on directories: EACCES for calls that change
//             directory entries: open with O_CREAT (string flags with w, a or x),
//             writeFile/appendFile to a path, mkdir and copyFile, each only when the path it
//             would create (copyFile: the destination) does not exist yet; rename, unlink,
//             rm and rmdir when the path exists (else they fail with ENOENT as Linux does);
//             link and symlink always. Writes to existing files and to fds work.
//     eacces-files   existing files are read-only: EACCES for opensForWriting opens,
//             truncate, writeFile and appendFile of a path that is an existing regular file.
//             New files and directories can be created; writes to open fds work.
//     eio-fsync:<n>  the n-th (n >= 1) counted fsync or fdatasync (FileHandle sync/datasync
//             included, on any fd) fails with EIO after dropping the dirty data, as Linux did
//             in "fsyncgate": a regular file is cut back (ftruncate, uncounted) to its size at
//             its last fsync/fdatasync through this module (measured when that call was
//             made), or, if it had none, its size when a counted call first named the fd
//             (measured before that call). Sizes are kept per fd until its close. Every other
//             fsync/fdatasync is performed: the error is reported once.
//     slow-fsync:<ms>  every counted fsync/fdatasync waits <ms> (>= 1) milliseconds before
//             it is performed: sync forms block (Atomics.wait), callback and promise forms
//             wait on a timer.
//     eio-read:<offset>:<length>:<absolute path>  a latent sector error (offset >= 0, length
//             >= 1; the path is last, so it may contain ':'; no release suffix, as a path may
//             contain ','). Every read of that file (matched by path, resolved to absolute at
//             open) whose range [pos, pos+n) overlaps [offset, offset+length): a read starting
//             before offset returns only the bytes before it (a short count), a read starting
//             inside fails with EIO; reads outside are untouched. read/readSync, readv/readvSync,
//             readFile/readFileSync (path or fd), promises.readFile, FileHandle read/readv/
//             readFile; streams read through fs.read. Reads are not counted calls: no other
//             call is affected, and the trace shows none of them (see fs/reads.ts).
//     release=<absolute path>: while that file exists the fault is lifted; it is looked up
//             (fs.existsSync, not counted) only when a call is about to be faulted. An
//             enospc budget keeps counting the bytes written meanwhile; an eio-fsync whose
//             n-th sync was released never fails.
//   All four are deleted from process.env once read, so child processes and workers (which
//   inherit NODE_OPTIONS) do not run a second, independent counter. With none set, this
//   module does nothing at all: no patching, no hooks, no file opened.
//
// Counted, in sync, callback and (where Node has one) fs/promises form: write, writev,
// writeFile, appendFile, fsync, fdatasync, rename, truncate, ftruncate, unlink, rm, rmdir,
// mkdir, open, close, copyFile, link, symlink; and FileHandle write, writev, sync, datasync,
// truncate, writeFile, appendFile, close. open counts only when it can change the file
// system or opens for writing (see opensForWriting); close always counts. Calls on fds 0, 1,
// 2, on negative fds (a closed FileHandle) and on the trace file are never counted.
// Only top-level calls count: what Node does inside a counted call (writeFile's own
// open/write/close, rm's unlinks) or inside fs.readFileSync is not counted again. fs streams
// and fs.cp count through the fs.open/write/writev/close/mkdir/copyFile calls Node makes.
// Not counted: chmod, chown, utimes, mkdtemp and their FileHandle forms; fs calls made by
// native addons or through process.binding; calls in worker threads and child processes.
//
// A call is counted when it is made, not when it completes: an async call the program did
// not wait for may still be in flight when call k fires, and its effect may then be missing.

// This module is the entry point: it reads the environment, then installs what it asks for.
// ESM evaluates its imports first, so they must do nothing when loaded (unpatched.ts only
// reads node:fs's functions): the environment is read and deleted before any other code runs.
// The parts, under fs/ (which imports nothing else of walcheck):
//   spec.ts       parses WALCHECK_FS_CRASH and WALCHECK_FS_FAULT
//   calls.ts      the counted calls and how to read their arguments
//   injectors.ts  WALCHECK_FS_FAULT as an Injector: what each fault kind does to a call
//   errno.ts      the errors Node reports, built for the injectors
//   trace.ts      WALCHECK_FS_TRACE's lines
//   unpatched.ts  Node's own fs functions, taken before patching, and the writes made with them
//   patch.ts      the wrappers on node:fs: counting, crashing, and acting on the injector
//   reads.ts      eio-read: the read wrappers (reads are not counted calls)
//   arm.ts        installs what the four variables ask for (also called by `walcheck serve`'s
//                 private arm request, for a process armed after its start)

import { armFs } from "./fs/arm.js";

export { opensForWriting } from "./fs/calls.js";
export { prefixLength } from "./fs/patch.js";
export { parseFsCrash, parseFsFault, type FsCrash, type FsCrashMode, type FsFault } from "./fs/spec.js";

const arming = {
  crash: process.env.WALCHECK_FS_CRASH,
  fault: process.env.WALCHECK_FS_FAULT,
  trace: process.env.WALCHECK_FS_TRACE,
  traceStacks: process.env.WALCHECK_FS_TRACE_STACKS === "1",
};
delete process.env.WALCHECK_FS_CRASH;
delete process.env.WALCHECK_FS_FAULT;
delete process.env.WALCHECK_FS_TRACE;
delete process.env.WALCHECK_FS_TRACE_STACKS;
armFs(arming);

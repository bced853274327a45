/*
 * walcheck's power-loss recorder: an LD_PRELOAD library that writes a trace (trace.ts describes
 * the format) of every mutating file-system call under one directory, with the data written and
 * the fsync barriers, so that crash-states.ts can replay any prefix of it.
 *
 * Environment, read by the constructor:
 *   WALCHECK_POWER_TRACE  the trace file (opened O_RDWR|O_CREAT|O_APPEND|O_CLOEXEC)
 *   WALCHECK_POWER_DIR    the recorded directory, absolute and already realpath'd
 *   WALCHECK_POWER_STDOUT optional: record the answers (see "the adapter's answers" below)
 *   WALCHECK_POWER_STACKS non-empty: each line also says where the program made the call (see
 *                         "where" below); costs a backtrace per recorded op, so off by default
 *   WALCHECK_FS_TRACE     with WALCHECK_POWER_STACKS: the Node fs preload's call trace (one line
 *                         per fs call, with its JavaScript stack), whose size each line gives
 *   WALCHECK_FS_FAULT     a file-system fault to inject (see "Faults" below), with
 *   WALCHECK_FAULT_DIR    the directory it applies to, absolute and already realpath'd
 *   WALCHECK_FS_CRASH     an fs-call crash point, <k>:<before|after|mid>, and/or
 *   WALCHECK_FS_TRACE     a file for one JSON line per counted call (see "Crash points" below),
 *                         both scoped by WALCHECK_FAULT_DIR too
 * Without a pair (the power trace and directory, or WALCHECK_FAULT_DIR with a fault, a crash
 * point or an fs trace), every function here is a plain pass-through. Each works alone or with
 * the others; with the power trace, the fault directory must be at or under the recorded one
 * (else the process exits with 2). WALCHECK_FS_TRACE is written by this library only with
 * WALCHECK_FAULT_DIR; with WALCHECK_POWER_STACKS and no WALCHECK_FAULT_DIR it is the Node fs
 * preload's trace, only read (see "Where").
 *
 * Where (WALCHECK_POWER_STACKS): each op line gains "stack", the program's native frames at the
 * call, innermost first, this library's own frames left out, at most STACK_KEPT of them: each
 * [module, "0x<offset from its load base>", "" (a symbol: left to addr2line), "0x<return address>"]
 * from backtrace(3) and dl_iterate_phdr(3) (not dladdr, a linear scan of the dynamic symbols, some
 * milliseconds a frame in Node's binary); the module is /proc/self/exe's target for the main
 * program; addresses are return addresses (the call is the instruction before).
 * harness/faults/power/where.ts symbolises them with addr2line. With WALCHECK_FS_TRACE also set, "jsAt" is that file's size in bytes when the
 * op was recorded: the Node calls made by then (each call's line is written before the call), so
 * the op's JavaScript call is the last matching one among them.
 *
 * How it works. A call on a tracked fd (an fd opened on a regular file or directory at or under
 * the directory) or on a path at or under it takes the lock around the real call and the
 * recording, so the trace order is the order in which the calls took effect and line `i` is
 * written before the call returns. Other calls take no lock: a tracked fd is found with two
 * atomic loads, a path by lexical normalisation and a prefix compare. Each line goes out in one
 * write(2) on the trace fd, unbuffered.
 *
 * Every process that has both variables records (they stay in the environment, like
 * LD_PRELOAD), so an adapter started through a wrapper (a #!/bin/sh launcher, a pyenv shim, npx)
 * is recorded, and so are its children if they touch the directory. The lock is a process's
 * mutex and then flock(2) on that process's own open of the trace file, so the processes take
 * turns; `i` is the trace's line count plus one, counted under the lock. A forked child (which
 * pthread_atfork prepares) records through its own open of the trace with the fd table it
 * inherited; a vforked child passes through (it shares its parent's memory); an exec'd image
 * starts with an empty fd table.
 *
 * Paths are normalised lexically (".", "..", "//"; symlinks are not resolved); relative paths
 * are joined with getcwd() or with the *at directory fd's path (from the fd table, or from
 * /proc/self/fd for an fd not in it). Non-UTF-8 bytes in paths are written as \u00XX of the
 * byte (valid UTF-8 passes through), so such a name reads back as Latin-1 code points.
 *
 * Beyond the plain calls: a write on an O_SYNC/O_DSYNC fd or a pwritev2 with RWF_SYNC/RWF_DSYNC
 * is followed by an fsync op; pwrite on an O_APPEND fd lands at the end (as Linux does);
 * copy_file_range and sendfile into a tracked fd are recorded as writes of the bytes read back
 * from the source; fallocate mode 0 that grows the file is a truncate to the new size, with
 * FALLOC_FL_KEEP_SIZE nothing (neither size nor bytes change); dup'ed fds stay tracked;
 * syscall(2) with the numbers of the calls above goes through the same wrappers, and
 * io_uring_setup through syscall(2) fails with ENOSYS so that libuv and liburing fall back to
 * plain calls. Entries of the fd table are checked against fstat (st_dev, st_ino) before use, so
 * an fd closed behind our back (close_range, fclose) and reused is not mistaken for the file.
 *
 * Recorded as "unsupported" (the runner refuses such a trace): symlink/symlinkat, mknod of a
 * non-regular file, renameat2 with RENAME_EXCHANGE/RENAME_WHITEOUT, a rename or link into or out
 * of the directory (a regular file renamed out is an unlink), linkat with AT_EMPTY_PATH,
 * O_TMPFILE, fallocate with other modes, splice into a tracked fd, ioctl FICLONE/FICLONERANGE,
 * freopen for writing on the directory and stdio modes with ",ccs=" (fopen and fdopen for
 * writing are followed: see "stdio" below), POSIX AIO writes (aio_write, lio_listio), and sync()
 * or syncfs() on the directory's file system once something was recorded.
 *
 * Not seen at all: writes through mmap (msync included; SQLite's -shm file is such a file, and
 * it is not durable state), io_uring submitted some other way, system calls made without libc
 * (inline syscall instructions, Go programs, statically linked programs), calls glibc makes
 * internally (opendir; stdio streams outside the directory), writes by an exec'd image through fds it inherited, and
 * operations on the directory's parent (the directory itself should exist, durably, before
 * recording). FIFOs, sockets and devices under the directory are not tracked.
 *
 * Faults. WALCHECK_FS_FAULT=<kind>[,release=<absolute path>] makes calls on WALCHECK_FAULT_DIR or
 * under it fail the way a sick file system does, for any dynamically linked program (the same
 * kinds as the Node preload, harness/faults/fs-preload.ts, at the libc level). Calls elsewhere
 * are untouched; a failed call sets errno to what Linux gives and returns -1 (posix_fallocate:
 * the error number) without being performed (so it is not recorded). An invalid value stops
 * the process at load with exit code 2 and a message on stderr. Every process with the
 * variables faults on its own (an exec'd image starts afresh: budgets and counts are per
 * process image). Without WALCHECK_POWER_TRACE nothing is written anywhere; with it, the trace
 * holds what the faults left (eio-fsync's cut is a truncate line).
 *   enospc:<bytes>  disk full after <bytes> (>= 0) bytes of write(2)-family calls (write, pwrite,
 *           writev, pwritev, pwritev2, and stdio streams, which go through write): the call that
 *           crosses the budget writes the bytes that still fit and returns that short count, as
 *           Linux does; every later one fails with ENOSPC and writes nothing. (A caller that
 *           retries the rest, as stdio and Python's buffered files do, gets ENOSPC at once.)
 *           copy_file_range, sendfile and fallocate do not count. Opening, creating, renaming,
 *           removing and syncing still work.
 *   erofs   read-only file system: EROFS for opens that could write (O_WRONLY/O_RDWR on a
 *           regular file or a missing one, O_TRUNC, O_CREAT of a missing file, O_TMPFILE),
 *           writes, truncate, ftruncate, fallocate, copy_file_range/sendfile into a file,
 *           rename, unlink, rmdir, and mkdir/mknod/symlink/link/mkstemp/mkdtemp of a name that
 *           does not exist yet (of one that exists they fail with EEXIST, as Linux checks that
 *           first). Reads, read-only opens, close, fsync and fdatasync work.
 *   eacces-dir     no write permission on directories: EACCES for calls that add a name that
 *           does not exist yet (open with O_CREAT, O_TMPFILE, mkdir, mknod, symlink, link,
 *           mkstemp, mkdtemp) and for rename, unlink and rmdir of a name that exists (of a
 *           missing one they fail with ENOENT, as Linux looks it up first). Writes to existing
 *           files and to fds work.
 *   eacces-files   existing regular files are read-only: EACCES for opens that could write to
 *           one (O_WRONLY, O_RDWR, O_TRUNC) and truncate by path. New files can be created and
 *           written; writes to fds already open work.
 *   eio-fsync:<n>  the n-th (n >= 1) fsync or fdatasync on an fd of the directory (files and
 *           the directory itself) fails with EIO after dropping the dirty data, as Linux did in
 *           "fsyncgate": a regular file is cut back (ftruncate) to its size at the last
 *           successful fsync/fdatasync through that fd, or to its size when the fd was opened.
 *           Every other fsync is performed: the error is reported once.
 *   slow-fsync:<ms>  every fsync/fdatasync on an fd of the directory waits <ms> (1 <= ms < 2^31)
 *           milliseconds (outside the lock: other threads' calls go on) before it is performed.
 *   eio-read:<offset>:<length>:<absolute path>   a latent sector error (length >= 1; the path
 *           comes last and may hold ':'; no release): every read of that file (read, pread,
 *           readv, preadv, preadv2, their 64 forms, the _FORTIFY_SOURCE __read_chk forms, and
 *           stdio streams opened to read it, which become cookie streams over read) whose range
 *           [pos, pos+n) overlaps [offset, offset+length) returns only the bytes before offset
 *           (a short count) if it starts before it, and fails with EIO if it starts inside it.
 *           The file is matched by its path, normalised lexically at open; it must be at or
 *           under the directory. Reads of other files cost one extra load and no lock.
 *   release=<absolute path>: while that file exists the fault is lifted; it is looked up
 *           (access(2)) only when a call is about to be faulted. An enospc budget keeps counting
 *           the bytes written meanwhile; an eio-fsync whose n-th fsync was released never fails.
 * Not reached, as for recording: statically linked programs, raw system calls (Go), io_uring,
 * mmap'ed writes and reads, calls glibc makes internally.
 *
 * Crash points. WALCHECK_FS_CRASH=<k>:<before|after|mid> (k >= 1) SIGKILLs the process
 * (kill(getpid(), SIGKILL)) at its k-th counted call, the C side of the Node preload's fs crash
 * points (harness/faults/fs-preload.ts), for any dynamically linked program. Counted: calls on
 * WALCHECK_FAULT_DIR or under it (elsewhere: not counted) that change the file system: open,
 * openat, creat (and their 64 and __open_2 forms) for writing, creating, truncating or O_TMPFILE;
 * mkstemp and friends; the write family (write, writev, pwrite, pwritev, pwritev2, 64 forms);
 * fsync and fdatasync (files and directories; sync_file_range is not a barrier and is not
 * counted); ftruncate, truncate, fallocate, posix_fallocate; copy_file_range and sendfile into a
 * tracked fd; close of a tracked fd; rename, renameat, renameat2 (either name in the directory);
 * unlink, unlinkat, rmdir, remove; mkdir, mkdirat, mknod, mknodat, symlink, symlinkat, mkdtemp;
 * link, linkat. stdio streams count through the calls under them (see "stdio").
 *   before  SIGKILL before the call is performed.
 *   after   the call is performed (and recorded, with the power trace), then SIGKILL as the lock
 *           is released.
 *   mid     a write-family call of n >= 2 bytes writes its first floor(n/2) bytes (same fd,
 *           same offset), then SIGKILL; any other call, or a 1-byte write: as before.
 * A call the fault mode fails is still counted (before the fault is decided); after and mid then
 * leave what the fault left. WALCHECK_FS_TRACE=<absolute path>: before each counted call, one
 * line {"i","call","fd"?,"path"?,"bytes"?,"fault"?,"crash"?,"pid"} in one write(2) (O_APPEND,
 * opened at the first counted call): call is the libc function ("write", "pwrite64", "fsync",
 * "open", "openat", "rename", "close", ...), path the normalised path (an fd's as opened), bytes
 * a write's length, fault "slow-fsync" on an fsync the fault mode delayed, crash on the line
 * that fired. Counting is per process image: the variables stay in the environment, so a wrapper
 * (a #!/bin/sh launcher, a pyenv shim) counts nothing unless it touches the directory, and the
 * program it execs counts from 1; a forked child goes on from its parent's count, in its own
 * copy. A bad WALCHECK_FS_CRASH or a relative WALCHECK_FS_TRACE stops the process at load with
 * exit code 2.
 */
#undef _FORTIFY_SOURCE
#undef _FILE_OFFSET_BITS
#undef _TIME_BITS
#define _GNU_SOURCE
#include <aio.h>
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#ifndef O_TMPFILE
#define O_TMPFILE (020000000 | O_DIRECTORY)
#endif
#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RWF_DSYNC
#define RWF_DSYNC 0x00000002
#endif
#ifndef RWF_SYNC
#define RWF_SYNC 0x00000004
#endif
#ifndef RWF_APPEND
#define RWF_APPEND 0x00000010
#endif
#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 0x01
#endif
#ifndef FICLONE
#define FICLONE _IOW(0x94, 9, int)
#endif
#ifndef FICLONERANGE
#define FICLONERANGE 0x4020940dUL /* _IOW(0x94, 13, struct file_clone_range) */
#endif

/* The fortified open variants (declared by <fcntl.h> only under _FORTIFY_SOURCE). */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

/* ---------------------------------------------------------------- the real functions */

static long missing_function(void) {
  errno = ENOSYS;
  return -1;
}

static void *next_symbol(void **slot, const char *name) {
  void *p = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
  if (p) return p;
  p = dlsym(RTLD_NEXT, name);
  if (!p) p = (void *)missing_function;
  __atomic_store_n(slot, p, __ATOMIC_RELEASE);
  return p;
}

/* The next definition of f (libc's), looked up once per call site. */
#define REAL(f) ((__typeof__(&f))({ static void *slot_; next_symbol(&slot_, #f); }))

/* ---------------------------------------------------------------- state */

#define PBUF (2 * PATH_MAX + 2)

static int active;                 /* set once by the constructor */
static pid_t owner;                /* this process (not a vforked child: it has its own pid) */
static char root[PBUF];            /* WALCHECK_POWER_DIR, normalised */
static size_t root_len;
static dev_t root_dev;
static int root_dev_known;
static char trace_path[PBUF];
static int trace_fd = -1;
static pid_t trace_pid;            /* the process that opened trace_fd */
static dev_t trace_dev;
static ino_t trace_ino;
static unsigned long long trace_size, trace_lines; /* of the trace, as last counted */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int recording;              /* WALCHECK_POWER_TRACE is written (else only faults are injected) */
static int want_stacks;            /* WALCHECK_POWER_STACKS */
static char js_trace[PBUF];        /* WALCHECK_FS_TRACE, when stacks are wanted */
static char self_exe[PBUF];
static void *self_base;            /* this library's load address (its frames are left out) */

static int mine(void) { return getpid() == owner; }

static void trace_lock(void);

/* Takes the lock for a tracked call: this process's mutex, then the trace's flock. Not in a
 * vforked child (it shares its parent's memory: it passes through and touches nothing). */
static int begin(int *cancel_state) {
  if (!mine()) return 0;
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, cancel_state);
  pthread_mutex_lock(&mu);
  if (recording) trace_lock();
  return 1;
}

static void crash_now(void);
static int crash_armed;

static void end(int cancel_state) {
  if (crash_armed) crash_now(); /* WALCHECK_FS_CRASH after/mid: the call is done */
  if (recording) flock(trace_fd, LOCK_UN);
  pthread_mutex_unlock(&mu);
  pthread_setcancelstate(cancel_state, NULL);
}

static void complain(const char *what, const char *detail) {
  char msg[PBUF + 200];
  int n = snprintf(msg, sizeof msg, "walcheck power recorder: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
  if (n > 0) (void)!REAL(write)(2, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
}

/* ---------------------------------------------------------------- the fd table */

#define CHUNK_BITS 12
#define CHUNK_SIZE (1 << CHUNK_BITS)
#define MAX_CHUNKS 16384 /* fds below 2^26 */

struct fdent {
  dev_t dev;
  ino_t ino;
  int is_dir;
  int append;
  int sync; /* 0, 1 = O_DSYNC, 2 = O_SYNC */
  long long synced; /* fault mode: a regular file's size at its last fsync through this fd (-1: not one) */
  char path[];
};

static struct fdent **chunks[MAX_CHUNKS];

static struct fdent **fd_slot(int fd, int create) {
  if (fd < 0 || (fd >> CHUNK_BITS) >= MAX_CHUNKS) return NULL;
  struct fdent **c = __atomic_load_n(&chunks[fd >> CHUNK_BITS], __ATOMIC_ACQUIRE);
  if (!c && create) {
    c = calloc(CHUNK_SIZE, sizeof *c);
    if (!c) return NULL;
    __atomic_store_n(&chunks[fd >> CHUNK_BITS], c, __ATOMIC_RELEASE);
  }
  return c ? &c[fd & (CHUNK_SIZE - 1)] : NULL;
}

/* Without the lock: might fd be tracked? (Only a hint: confirmed by entry() under the lock.) */
static int tracked_fd(int fd) {
  if (!__atomic_load_n(&active, __ATOMIC_RELAXED)) return 0;
  struct fdent **s = fd_slot(fd, 0);
  return s && __atomic_load_n(s, __ATOMIC_ACQUIRE) != NULL;
}

static void put_entry(int fd, struct fdent *e) {
  struct fdent **s = fd_slot(fd, e != NULL);
  if (!s) {
    if (e) complain("fd beyond the recorder's table, not tracked", e->path);
    free(e);
    return;
  }
  struct fdent *old = *s;
  __atomic_store_n(s, e, __ATOMIC_RELEASE);
  free(old);
}

static void forget(int fd) { put_entry(fd, NULL); }

static struct fdent *new_entry(const char *path, const struct stat *st, int flags) {
  size_t n = strlen(path) + 1;
  struct fdent *e = malloc(sizeof *e + n);
  if (!e) return NULL;
  e->dev = st->st_dev;
  e->ino = st->st_ino;
  e->is_dir = S_ISDIR(st->st_mode);
  e->append = (flags & O_APPEND) != 0;
  e->sync = (flags & O_SYNC) == O_SYNC ? 2 : (flags & O_DSYNC) ? 1 : 0;
  e->synced = S_ISREG(st->st_mode) ? (long long)st->st_size : -1;
  memcpy(e->path, path, n);
  return e;
}

/* Under the lock: fd's entry, if it is still the file it was opened on. */
static struct fdent *entry(int fd) {
  struct fdent **s = fd_slot(fd, 0);
  struct fdent *e = s ? *s : NULL;
  struct stat st;
  if (e && (fstat(fd, &st) != 0 || st.st_ino != e->ino || st.st_dev != e->dev)) {
    forget(fd);
    return NULL;
  }
  return e;
}

/* Under the lock: `to` now refers to what `from` does (dup and friends). */
static void copy_entry(int from, int to) {
  struct fdent *e = entry(from), *c = NULL;
  if (e) {
    size_t n = sizeof *e + strlen(e->path) + 1;
    c = malloc(n);
    if (c) memcpy(c, e, n);
  }
  put_entry(to, c);
}

/* ---------------------------------------------------------------- paths */

/* Appends the components of s to the normalised absolute path out[0..*n) ("" is the root). */
static int push_components(char *out, size_t *n, const char *s) {
  while (*s) {
    while (*s == '/') s++;
    const char *e = s;
    while (*e && *e != '/') e++;
    size_t len = (size_t)(e - s);
    if (len == 2 && s[0] == '.' && s[1] == '.') {
      while (*n > 0 && out[*n - 1] != '/') (*n)--;
      if (*n > 0) (*n)--;
    } else if (len > 0 && !(len == 1 && s[0] == '.')) {
      if (*n + 1 + len + 1 > PBUF) return 0;
      out[(*n)++] = '/';
      memcpy(out + *n, s, len);
      *n += len;
    }
    s = e;
  }
  return 1;
}

/* The directory a relative path is relative to. Never called with the lock held. */
static int base_dir(int dirfd, char *base) {
  if (dirfd == AT_FDCWD) return getcwd(base, PATH_MAX) != NULL;
  if (tracked_fd(dirfd)) {
    int cs, ok = 0;
    if (!begin(&cs)) return 0;
    struct fdent *e = entry(dirfd);
    if (e && strlen(e->path) < PATH_MAX) {
      strcpy(base, e->path);
      ok = 1;
    }
    end(cs);
    if (ok) return 1;
  }
  char link[40];
  snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
  ssize_t r = readlink(link, base, PATH_MAX - 1);
  if (r <= 0 || base[0] != '/') return 0;
  base[r] = 0;
  return 1;
}

static int abs_path(int dirfd, const char *path, char *out) {
  size_t n = 0;
  if (!path) return 0;
  if (path[0] != '/') {
    char base[PATH_MAX];
    if (!base_dir(dirfd, base) || !push_components(out, &n, base)) return 0;
  }
  if (!push_components(out, &n, path)) return 0;
  if (n == 0) out[n++] = '/';
  out[n] = 0;
  return 1;
}

/* Is (dirfd, path) at or under the recorded directory? Fills out with its absolute path. */
static int in_root(int dirfd, const char *path, char *out) {
  if (!__atomic_load_n(&active, __ATOMIC_RELAXED) || !abs_path(dirfd, path, out)) return 0;
  if (root_len == 1) return 1;
  return strncmp(out, root, root_len) == 0 && (out[root_len] == 0 || out[root_len] == '/');
}

/* ---------------------------------------------------------------- faults (WALCHECK_FS_FAULT) */

enum fault_kind { F_NONE, F_ENOSPC, F_EROFS, F_EACCES_DIR, F_EACCES_FILES, F_EIO_FSYNC, F_SLOW_FSYNC, F_EIO_READ };

static int fault_kind;                 /* enum fault_kind, set once by the constructor */
static unsigned long long fault_arg;   /* enospc's bytes, eio-fsync's n, slow-fsync's ms */
static unsigned long long fault_used;  /* enospc: bytes of write-like calls so far (under the lock) */
static unsigned long long fault_syncs; /* eio-fsync: fsyncs and fdatasyncs so far (under the lock) */
static char fault_root[PBUF];          /* WALCHECK_FAULT_DIR, normalised */
static size_t fault_root_len;
static char fault_release[PBUF];       /* the release file, or "" */
static char read_file[PBUF];           /* eio-read: the file, normalised */
static unsigned long long read_off, read_len;

static int fault_on(void) { return __atomic_load_n(&fault_kind, __ATOMIC_RELAXED) != F_NONE; }

/* Is abs (normalised, absolute) at or under WALCHECK_FAULT_DIR? */
static int under_fault_root(const char *abs) {
  if (!fault_on() || !abs) return 0;
  if (fault_root_len == 1) return 1;
  return strncmp(abs, fault_root, fault_root_len) == 0 && (abs[fault_root_len] == 0 || abs[fault_root_len] == '/');
}

/* While the release file exists the fault is lifted; looked up only when a call is about to be faulted. */
static int released(void) { return fault_release[0] && access(fault_release, F_OK) == 0; }

/* err if the fault is `kind` and not lifted, else 0. */
static int fault_if(int kind, int err) { return fault_kind == kind && !released() ? err : 0; }

/* The error for a call that makes a new name at abs (mkdir, mknod, symlink, link, mkdtemp,
 * mkstemp): none if the name exists (the call fails with EEXIST by itself, as Linux checks that
 * first); else EROFS, or EACCES under eacces-dir. */
static int fault_new_name(const char *abs, int exists) {
  if (!under_fault_root(abs) || exists) return 0;
  return fault_if(F_EROFS, EROFS) ? EROFS : fault_if(F_EACCES_DIR, EACCES);
}

/* The error for a call that removes or renames the name abs (unlink, rmdir, rename): EROFS;
 * EACCES under eacces-dir if it exists (else it fails with ENOENT by itself). */
static int fault_old_name(const char *abs, int exists) {
  if (!under_fault_root(abs)) return 0;
  return fault_if(F_EROFS, EROFS) ? EROFS : exists ? fault_if(F_EACCES_DIR, EACCES) : 0;
}

/* The error for an open of abs with flags: EROFS for one that could write (for writing, O_TRUNC,
 * creating, O_TMPFILE); EACCES under eacces-dir for one that creates; EACCES under eacces-files
 * for one that could write to an existing regular file. */
static int fault_open(const char *abs, int flags, int exists, int is_reg) {
  if (!under_fault_root(abs)) return 0;
  int tmp = (flags & O_TMPFILE) == O_TMPFILE;
  int creates = tmp || ((flags & O_CREAT) && !exists);
  int writes = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
  if (fault_kind == F_EROFS && (creates || (writes && (!exists || is_reg)))) return fault_if(F_EROFS, EROFS);
  if (fault_kind == F_EACCES_DIR && creates) return fault_if(F_EACCES_DIR, EACCES);
  if (fault_kind == F_EACCES_FILES && exists && is_reg && writes) return fault_if(F_EACCES_FILES, EACCES);
  return 0;
}

/* The error for a call that changes a regular file through an fd (ftruncate, fallocate, the
 * copies into it) or truncate by path (`by_path`: eacces-files too). */
static int fault_change(const char *abs, int by_path) {
  if (!under_fault_root(abs)) return 0;
  if (fault_kind == F_EROFS) return fault_if(F_EROFS, EROFS);
  return by_path ? fault_if(F_EACCES_FILES, EACCES) : 0;
}

/* Under the lock, for a write of n bytes to a regular file abs: the error (EROFS; ENOSPC once
 * the budget is spent), or 0 with *allowed the bytes the call may write (less than n when it
 * crosses the budget: it writes that prefix and returns the short count, as a full disk does). */
static int fault_write(const char *abs, size_t n, size_t *allowed) {
  *allowed = n;
  if (!under_fault_root(abs)) return 0;
  if (fault_kind == F_EROFS) return fault_if(F_EROFS, EROFS);
  if (fault_kind != F_ENOSPC) return 0;
  unsigned long long left = fault_arg > fault_used ? fault_arg - fault_used : 0;
  if (n <= left || released()) {
    fault_used += n;
    return 0;
  }
  fault_used += left;
  if (left == 0) return ENOSPC;
  *allowed = (size_t)left;
  return 0;
}

/* The first `n` bytes of iov[0..cnt) as a new vector in out (cnt entries at most); its count. */
static int iov_prefix(const struct iovec *iov, int cnt, size_t n, struct iovec *out) {
  int k = 0;
  for (; k < cnt && n > 0; k++) {
    out[k] = iov[k];
    if (out[k].iov_len > n) out[k].iov_len = n;
    n -= out[k].iov_len;
  }
  return k;
}

static size_t iov_total(const struct iovec *iov, int cnt) {
  size_t n = 0;
  for (int k = 0; k < cnt; k++) n += iov[k].iov_len;
  return n;
}

static int parse_count(const char *s, const char *end, unsigned long long *out) {
  unsigned long long v = 0;
  if (s == end) return 0;
  for (; s < end; s++) {
    if (*s < '0' || *s > '9' || v > (9007199254740991ULL - (unsigned long long)(*s - '0')) / 10) return 0;
    v = v * 10 + (unsigned long long)(*s - '0');
  }
  *out = v;
  return 1;
}

/* Parses WALCHECK_FS_FAULT (fault_kind, fault_arg, the release file, eio-read's range); 0 if invalid. */
static int parse_fault(const char *spec) {
  if (strncmp(spec, "eio-read:", 9) == 0) {
    const char *a = spec + 9, *b = strchr(a, ':'), *c = b ? strchr(b + 1, ':') : NULL;
    if (!b || !c || !parse_count(a, b, &read_off) || !parse_count(b + 1, c, &read_len) || read_len < 1 || c[1] != '/') return 0;
    if (!abs_path(AT_FDCWD, c + 1, read_file)) return 0;
    fault_kind = F_EIO_READ;
    return 1;
  }
  const char *comma = strchr(spec, ','), *end = comma ? comma : spec + strlen(spec);
  if (comma && (strncmp(comma, ",release=/", 10) != 0 || !abs_path(AT_FDCWD, comma + 9, fault_release))) return 0;
  size_t n = (size_t)(end - spec);
  const char *colon = memchr(spec, ':', n);
  size_t name = colon ? (size_t)(colon - spec) : n;
#define KIND_IS(s) (name == sizeof(s) - 1 && strncmp(spec, s, name) == 0)
  if (!colon) {
    if (KIND_IS("erofs")) fault_kind = F_EROFS;
    else if (KIND_IS("eacces-dir")) fault_kind = F_EACCES_DIR;
    else if (KIND_IS("eacces-files")) fault_kind = F_EACCES_FILES;
    return fault_kind != F_NONE;
  }
  if (!parse_count(colon + 1, end, &fault_arg)) return 0;
  if (KIND_IS("enospc")) fault_kind = F_ENOSPC;
  else if (KIND_IS("eio-fsync") && fault_arg >= 1) fault_kind = F_EIO_FSYNC;
  else if (KIND_IS("slow-fsync") && fault_arg >= 1 && fault_arg < (1ULL << 31)) fault_kind = F_SLOW_FSYNC;
#undef KIND_IS
  return fault_kind != F_NONE;
}

/* ---------------------------------------------------------------- trace lines */

struct line {
  char *p;
  size_t len, cap;
  int bad;
  unsigned long long i;
};

static int reserve(struct line *l, size_t more) {
  if (l->bad) return 0;
  if (l->len + more <= l->cap) return 1;
  size_t cap = l->cap ? l->cap : 256;
  while (cap < l->len + more) cap *= 2;
  char *p = realloc(l->p, cap);
  if (!p) {
    l->bad = 1;
    return 0;
  }
  l->p = p;
  l->cap = cap;
  return 1;
}

static void put(struct line *l, const void *s, size_t n) {
  if (!reserve(l, n)) return;
  memcpy(l->p + l->len, s, n);
  l->len += n;
}

static void put_s(struct line *l, const char *s) { put(l, s, strlen(s)); }

static void put_u(struct line *l, unsigned long long v) {
  char b[24];
  put(l, b, (size_t)snprintf(b, sizeof b, "%llu", v));
}

/* Length of the valid UTF-8 sequence of two or more bytes at s, or 0. */
static size_t utf8_seq(const unsigned char *s) {
  size_t n = s[0] >= 0xc2 && s[0] <= 0xdf ? 2 : s[0] >= 0xe0 && s[0] <= 0xef ? 3 : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : 0;
  for (size_t k = 1; k < n; k++)
    if ((s[k] & 0xc0) != 0x80) return 0;
  if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) || (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f)) return 0;
  return n;
}

static void put_json_str(struct line *l, const char *str) {
  const unsigned char *s = (const unsigned char *)str;
  put(l, "\"", 1);
  while (*s) {
    size_t n = *s < 0x80 ? 1 : utf8_seq(s);
    if (*s == '"' || *s == '\\') {
      char esc[2] = {'\\', (char)*s};
      put(l, esc, 2);
    } else if (*s < 0x20 || n == 0) {
      char esc[8];
      snprintf(esc, sizeof esc, "\\u%04x", *s);
      put(l, esc, 6);
    } else {
      put(l, s, n);
      s += n - 1;
    }
    s++;
  }
  put(l, "\"", 1);
}

static void put_base64(struct line *l, const struct iovec *iov, int cnt, size_t n) {
  static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (!reserve(l, (n + 2) / 3 * 4 + 2)) return;
  char *o = l->p + l->len;
  *o++ = '"';
  unsigned char q[3];
  int qn = 0;
  for (int k = 0; k < cnt && n > 0; k++) {
    const unsigned char *p = iov[k].iov_base;
    size_t len = iov[k].iov_len < n ? iov[k].iov_len : n;
    n -= len;
    for (size_t j = 0; j < len; j++) {
      q[qn++] = p[j];
      if (qn < 3) continue;
      o[0] = tbl[q[0] >> 2];
      o[1] = tbl[((q[0] & 3) << 4) | (q[1] >> 4)];
      o[2] = tbl[((q[1] & 15) << 2) | (q[2] >> 6)];
      o[3] = tbl[q[2] & 63];
      o += 4;
      qn = 0;
    }
  }
  if (qn) {
    if (qn == 1) q[1] = 0;
    o[0] = tbl[q[0] >> 2];
    o[1] = tbl[((q[0] & 3) << 4) | (q[1] >> 4)];
    o[2] = qn == 2 ? tbl[(q[1] & 15) << 2] : '=';
    o[3] = '=';
    o += 4;
  }
  *o++ = '"';
  l->len = (size_t)(o - l->p);
}

static void key(struct line *l, const char *k) {
  put(l, ",\"", 2);
  put_s(l, k);
  put(l, "\":", 2);
}

static void kv_u(struct line *l, const char *k, unsigned long long v) {
  key(l, k);
  put_u(l, v);
}

static void kv_s(struct line *l, const char *k, const char *v) {
  key(l, k);
  put_json_str(l, v);
}

static struct line op_begin(const char *op) {
  if (!recording) return (struct line){NULL, 0, 0, 1, 0}; /* fault mode only: nothing is written */
  struct line l = {NULL, 0, 0, 0, ++trace_lines};
  put_s(&l, "{\"i\":");
  put_u(&l, l.i);
  put_s(&l, ",\"op\":\"");
  put_s(&l, op);
  put(&l, "\"", 1);
  return l;
}

/* A trace that silently lost a line would make every crash state cut from it a lie: stop. */
static void trace_lost(const char *why) {
  complain("cannot write the trace, stopping this process", why);
  _exit(70);
}

/* Opens the trace for this process (again if the program closed or dup2'ed over our fd, or
 * after a fork: flock needs an open file description of our own). */
static void trace_open(void) {
  struct stat st;
  if (trace_fd >= 0 && fstat(trace_fd, &st) == 0 && st.st_dev == trace_dev && st.st_ino == trace_ino) REAL(close)(trace_fd);
  int fd = REAL(open)(trace_path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0 || fstat(fd, &st) != 0) trace_lost(trace_path);
  int high = REAL(fcntl)(fd, F_DUPFD_CLOEXEC, 100);
  if (high >= 0) {
    REAL(close)(fd);
    fd = high;
  }
  trace_fd = fd;
  trace_pid = getpid();
  trace_dev = st.st_dev;
  trace_ino = st.st_ino;
}

/* After the mutex: the trace's flock, and its line count (other processes may have added). */
static void trace_lock(void) {
  struct stat st;
  if (trace_pid != getpid() || fstat(trace_fd, &st) != 0 || st.st_dev != trace_dev || st.st_ino != trace_ino) trace_open();
  while (flock(trace_fd, LOCK_EX) != 0)
    if (errno != EINTR) trace_lost(strerror(errno));
  if (fstat(trace_fd, &st) != 0) trace_lost(strerror(errno));
  if ((unsigned long long)st.st_size < trace_size) trace_size = trace_lines = 0;
  char buf[8192];
  while (trace_size < (unsigned long long)st.st_size) {
    ssize_t r = REAL(pread)(trace_fd, buf, sizeof buf, (off_t)trace_size);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) trace_lost("cannot read it back to count its lines");
    for (ssize_t k = 0; k < r; k++) trace_lines += buf[k] == '\n';
    trace_size += (unsigned long long)r;
  }
}

static void put_stack(struct line *l);

static void op_end(struct line *l) {
  if (!recording) return;
  char oom[96];
  if (want_stacks) put_stack(l);
  put(l, "}\n", 2);
  const char *p = l->p;
  size_t n = l->len;
  if (l->bad) {
    n = (size_t)snprintf(oom, sizeof oom, "{\"i\":%llu,\"op\":\"unsupported\",\"what\":\"recorder out of memory\"}\n", l->i);
    p = oom;
  }
  while (n > 0) {
    ssize_t w = REAL(write)(trace_fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) trace_lost(strerror(errno));
    p += w;
    n -= (size_t)w;
    trace_size += (unsigned long long)w;
  }
  free(l->p);
}

/* ---------------------------------------------------------------- where (WALCHECK_POWER_STACKS) */

#define STACK_FRAMES 32
#define STACK_KEPT 10

static void put_hex(struct line *l, uintptr_t v) {
  char b[24];
  put(l, b, (size_t)snprintf(b, sizeof b, "\"0x%lx\"", (unsigned long)v));
}

/* The loaded module holding pc (dl_iterate_phdr over the PT_LOAD segments: no symbol lookup, so
 * cheap even in a program with a huge dynamic symbol table, where dladdr is a linear scan). */
struct module_of {
  uintptr_t pc, base;
  const char *name;
};

static int module_cb(struct dl_phdr_info *info, size_t size, void *data) {
  struct module_of *m = data;
  (void)size;
  for (int k = 0; k < info->dlpi_phnum; k++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[k];
    uintptr_t lo = (uintptr_t)info->dlpi_addr + (uintptr_t)ph->p_vaddr;
    if (ph->p_type == PT_LOAD && m->pc >= lo && m->pc < lo + (uintptr_t)ph->p_memsz) {
      m->base = (uintptr_t)info->dlpi_addr;
      m->name = info->dlpi_name;
      return 1;
    }
  }
  return 0;
}

static void put_stack(struct line *l) {
  void *pcs[STACK_FRAMES];
  int n = backtrace(pcs, STACK_FRAMES), kept = 0;
  key(l, "stack");
  put(l, "[", 1);
  for (int k = 0; k < n && kept < STACK_KEPT; k++) {
    struct module_of m = {(uintptr_t)pcs[k], 0, NULL};
    int known = dl_iterate_phdr(module_cb, &m) != 0 && m.name;
    if (known && (void *)m.base == self_base) continue;
    if (kept++) put(l, ",", 1);
    put(l, "[", 1);
    put_json_str(l, !known ? "" : m.name[0] == '/' ? m.name : self_exe);
    put(l, ",", 1);
    /* The offset from the load base: for an ET_EXEC program the base is 0, the address itself. */
    put_hex(l, known ? m.pc - m.base : 0);
    put(l, ",\"\",", 4);
    put_hex(l, m.pc);
    put(l, "]", 1);
  }
  put(l, "]", 1);
  struct stat st;
  if (js_trace[0] && stat(js_trace, &st) == 0) kv_u(l, "jsAt", (unsigned long long)st.st_size);
}

static void stacks_start(void) {
  const char *s = getenv("WALCHECK_POWER_STACKS"), *js = getenv("WALCHECK_FS_TRACE");
  if (!s || !*s) return;
  Dl_info info;
  if (dladdr((void *)put_stack, &info) != 0) self_base = info.dli_fbase;
  ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
  self_exe[n > 0 ? n : 0] = 0;
  if (js && *js && !abs_path(AT_FDCWD, js, js_trace)) js_trace[0] = 0;
  void *warm[2];
  backtrace(warm, 2); /* loads the unwinder now, not under the lock of a recorded call */
  want_stacks = 1;
}

/* ---------------------------------------------------------------- crash points (WALCHECK_FS_CRASH) */

enum crash_when { C_NONE, C_BEFORE, C_AFTER, C_MID };

static int crash_on;                   /* WALCHECK_FS_CRASH or WALCHECK_FS_TRACE is set (with WALCHECK_FAULT_DIR) */
static unsigned long long crash_k;     /* the call to crash at (0: none, the trace only) */
static int crash_when;                 /* enum crash_when */
static unsigned long long crash_count; /* counted calls of this process image so far (under the lock) */
/* crash_armed (declared above end()): after/mid, SIGKILL when the call's lock is released */
static char crash_trace[PBUF];         /* WALCHECK_FS_TRACE, or "" */
static int crash_trace_fd = -1;
static const char *crash_note;         /* the trace line's "fault" (under the lock): "slow-fsync" for a delayed fsync */

/* Is abs (normalised, absolute) at or under WALCHECK_FAULT_DIR? */
static int in_fault_dir(const char *abs) {
  if (!abs || !fault_root_len) return 0;
  if (fault_root_len == 1) return 1;
  return strncmp(abs, fault_root, fault_root_len) == 0 && (abs[fault_root_len] == 0 || abs[fault_root_len] == '/');
}

static void crash_now(void) {
  kill(getpid(), SIGKILL);
  _exit(137);
}

/* Parses WALCHECK_FS_CRASH, <k>:<before|after|mid> (k >= 1); 0 if invalid. */
static int parse_crash(const char *spec) {
  const char *colon = strchr(spec, ':');
  if (!colon || !parse_count(spec, colon, &crash_k) || crash_k < 1) return 0;
  if (strcmp(colon + 1, "before") == 0) crash_when = C_BEFORE;
  else if (strcmp(colon + 1, "after") == 0) crash_when = C_AFTER;
  else if (strcmp(colon + 1, "mid") == 0) crash_when = C_MID;
  return crash_when != C_NONE;
}

/* Under the lock, before a counted call on the directory is performed: `call` its label (the libc
 * function), fd (or -1), path (or NULL), bytes (a write's length, or -1); write_like if `mid` can
 * cut it. Counts it, writes its WALCHECK_FS_TRACE line, and, if it is the k-th: `before` (and
 * `mid` of anything else or of fewer than 2 bytes) SIGKILLs now; `after` arms the kill for end();
 * `mid` of a write arms it too and returns C_MID: the caller writes only floor(n/2) bytes. */
static int crash_point(const char *call, int fd, const char *path, long long bytes, int write_like) {
  if (!crash_on || !in_fault_dir(path)) return C_NONE;
  unsigned long long i = ++crash_count;
  int when = crash_k && i == crash_k ? crash_when : C_NONE;
  if (when == C_MID && (!write_like || bytes < 2)) when = C_BEFORE;
  if (crash_trace[0]) {
    if (crash_trace_fd < 0) {
      int t = REAL(open)(crash_trace, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      int high = t >= 0 ? REAL(fcntl)(t, F_DUPFD_CLOEXEC, 100) : -1;
      if (high >= 0) {
        REAL(close)(t);
        t = high;
      }
      if (t < 0) {
        complain("cannot open WALCHECK_FS_TRACE, stopping this process", crash_trace);
        _exit(70);
      }
      crash_trace_fd = t;
    }
    struct line l = {NULL, 0, 0, 0, i};
    put_s(&l, "{\"i\":");
    put_u(&l, i);
    kv_s(&l, "call", call);
    if (fd >= 0) kv_u(&l, "fd", (unsigned long long)fd);
    if (path) kv_s(&l, "path", path);
    if (bytes >= 0) kv_u(&l, "bytes", (unsigned long long)bytes);
    if (crash_note) kv_s(&l, "fault", crash_note);
    if (when != C_NONE) kv_s(&l, "crash", when == C_BEFORE ? "before" : when == C_AFTER ? "after" : "mid");
    kv_u(&l, "pid", (unsigned long long)getpid());
    put(&l, "}\n", 2);
    if (!l.bad) (void)!REAL(write)(crash_trace_fd, l.p, l.len); /* one write, O_APPEND */
    free(l.p);
  }
  if (when == C_BEFORE) crash_now();
  if (when == C_AFTER || when == C_MID) crash_armed = 1;
  return when;
}

/* Under the lock, for a call on fd: crash_point with fd's path, if fd is tracked and in the directory. */
static int crash_point_fd(const char *call, int fd, struct fdent *ent, long long bytes, int write_like) {
  return ent ? crash_point(call, fd, ent->path, bytes, write_like) : C_NONE;
}

/* ---------------------------------------------------------------- recording (under the lock) */

static void rec_create(const char *path, ino_t ino) {
  struct line l = op_begin("create");
  kv_s(&l, "path", path);
  kv_u(&l, "ino", ino);
  op_end(&l);
}

static void rec_truncate(ino_t ino, unsigned long long size) {
  struct line l = op_begin("truncate");
  kv_u(&l, "ino", ino);
  kv_u(&l, "size", size);
  op_end(&l);
}

static void rec_write(ino_t ino, unsigned long long offset, const struct iovec *iov, int cnt, size_t n) {
  struct line l = op_begin("write");
  kv_u(&l, "ino", ino);
  kv_u(&l, "offset", offset);
  key(&l, "data");
  put_base64(&l, iov, cnt, n);
  op_end(&l);
}

static void rec_fsync(ino_t ino, int datasync) {
  struct line l = op_begin("fsync");
  kv_u(&l, "ino", ino);
  kv_s(&l, "kind", datasync ? "fdatasync" : "fsync");
  op_end(&l);
}

static void rec_sync(const struct fdent *e, int datasync) {
  if (!e->is_dir) {
    rec_fsync(e->ino, datasync);
    return;
  }
  struct line l = op_begin("dirsync");
  kv_s(&l, "path", e->path);
  op_end(&l);
}

static void rec_path(const char *op, const char *path) {
  struct line l = op_begin(op);
  kv_s(&l, "path", path);
  op_end(&l);
}

static void rec_unlink(const char *path, ino_t ino) {
  struct line l = op_begin("unlink");
  kv_s(&l, "path", path);
  kv_u(&l, "ino", ino);
  op_end(&l);
}

static void rec_two_paths(const char *op, const char *from, const char *to, ino_t ino, const struct stat *replaced) {
  struct line l = op_begin(op);
  kv_s(&l, "from", from);
  kv_s(&l, "to", to);
  kv_u(&l, "ino", ino);
  if (replaced) kv_u(&l, "replaced", replaced->st_ino);
  op_end(&l);
}

static void rec_unsupported(const char *what, const char *path) {
  struct line l = op_begin("unsupported");
  kv_s(&l, "what", what);
  if (path) kv_s(&l, "path", path);
  op_end(&l);
}

/* ---------------------------------------------------------------- open */

enum open_kind { K_OPEN, K_OPEN64, K_OPENAT, K_OPENAT64, K_CREAT, K_CREAT64, K_OPEN_2, K_OPEN64_2, K_OPENAT_2, K_OPENAT64_2 };

static int open_real(enum open_kind k, int dirfd, const char *p, int flags, mode_t mode) {
  switch (k) {
  case K_OPEN: return REAL(open)(p, flags, mode);
  case K_OPEN64: return REAL(open64)(p, flags, mode);
  case K_OPENAT: return REAL(openat)(dirfd, p, flags, mode);
  case K_OPENAT64: return REAL(openat64)(dirfd, p, flags, mode);
  case K_CREAT: return REAL(creat)(p, mode);
  case K_CREAT64: return REAL(creat64)(p, mode);
  case K_OPEN_2: return REAL(__open_2)(p, flags);
  case K_OPEN64_2: return REAL(__open64_2)(p, flags);
  case K_OPENAT_2: return REAL(__openat_2)(dirfd, p, flags);
  case K_OPENAT64_2: return REAL(__openat64_2)(dirfd, p, flags);
  }
  errno = EINVAL;
  return -1;
}

/* Under the lock: fd was just opened on abs (a path in the directory). */
static void opened(int fd, const char *abs, int flags, int created) {
  struct stat st;
  if (fstat(fd, &st) != 0 || (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))) {
    forget(fd);
    return;
  }
  put_entry(fd, new_entry(abs, &st, flags));
  if ((flags & O_TMPFILE) == O_TMPFILE)
    rec_unsupported("O_TMPFILE", abs);
  else if (created)
    rec_create(abs, st.st_ino);
  else if ((flags & O_TRUNC) && S_ISREG(st.st_mode))
    rec_truncate(st.st_ino, 0);
}

static int open_common(enum open_kind k, int dirfd, const char *path, int flags, mode_t mode) {
  char abs[PBUF];
  int cs;
  struct stat st;
  if (!in_root(dirfd, path, abs) || (fstatat(dirfd, path, &st, 0) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) || !begin(&cs))
    return open_real(k, dirfd, path, flags, mode); /* not a FIFO's open, which may block, under the lock */
  int exists = fstatat(dirfd, path, &st, 0) == 0;
  int existed = !(flags & O_CREAT) || exists;
  if ((flags & (O_ACCMODE | O_CREAT | O_TRUNC)) || (flags & O_TMPFILE) == O_TMPFILE)
    crash_point(k == K_CREAT || k == K_CREAT64 ? "creat" : k == K_OPENAT || k == K_OPENAT64 || k == K_OPENAT_2 || k == K_OPENAT64_2 ? "openat" : "open", -1, abs, -1, 0);
  int fe = fault_on() ? fault_open(abs, flags, exists, exists && S_ISREG(st.st_mode)) : 0;
  if (fe) {
    end(cs);
    errno = fe;
    return -1;
  }
  int fd = open_real(k, dirfd, path, flags, mode), e = errno;
  if (fd >= 0) opened(fd, abs, flags, !existed);
  end(cs);
  errno = e;
  return fd;
}

static mode_t open_mode(int flags, va_list ap) {
  return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

#define OPEN_WRAPPER(name, kind)                           \
  int name(const char *path, int flags, ...) {             \
    va_list ap;                                            \
    va_start(ap, flags);                                   \
    mode_t mode = open_mode(flags, ap);                    \
    va_end(ap);                                            \
    return open_common(kind, AT_FDCWD, path, flags, mode); \
  }
#define OPENAT_WRAPPER(name, kind)                        \
  int name(int dirfd, const char *path, int flags, ...) { \
    va_list ap;                                           \
    va_start(ap, flags);                                  \
    mode_t mode = open_mode(flags, ap);                   \
    va_end(ap);                                           \
    return open_common(kind, dirfd, path, flags, mode);   \
  }
OPEN_WRAPPER(open, K_OPEN)
OPEN_WRAPPER(open64, K_OPEN64)
OPENAT_WRAPPER(openat, K_OPENAT)
OPENAT_WRAPPER(openat64, K_OPENAT64)

int creat(const char *path, mode_t mode) { return open_common(K_CREAT, AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode); }
int creat64(const char *path, mode_t mode) { return open_common(K_CREAT64, AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode); }
int __open_2(const char *path, int flags) { return open_common(K_OPEN_2, AT_FDCWD, path, flags, 0); }
int __open64_2(const char *path, int flags) { return open_common(K_OPEN64_2, AT_FDCWD, path, flags, 0); }
int __openat_2(int dirfd, const char *path, int flags) { return open_common(K_OPENAT_2, dirfd, path, flags, 0); }
int __openat64_2(int dirfd, const char *path, int flags) { return open_common(K_OPENAT64_2, dirfd, path, flags, 0); }

/* mkstemp and friends create through glibc's internal open. */
enum tmp_kind { T_MKSTEMP, T_MKSTEMP64, T_MKOSTEMP, T_MKOSTEMP64, T_MKSTEMPS, T_MKSTEMPS64, T_MKOSTEMPS, T_MKOSTEMPS64 };

static int mkstemp_real(enum tmp_kind k, char *t, int suffix, int flags) {
  switch (k) {
  case T_MKSTEMP: return REAL(mkstemp)(t);
  case T_MKSTEMP64: return REAL(mkstemp64)(t);
  case T_MKOSTEMP: return REAL(mkostemp)(t, flags);
  case T_MKOSTEMP64: return REAL(mkostemp64)(t, flags);
  case T_MKSTEMPS: return REAL(mkstemps)(t, suffix);
  case T_MKSTEMPS64: return REAL(mkstemps64)(t, suffix);
  case T_MKOSTEMPS: return REAL(mkostemps)(t, suffix, flags);
  case T_MKOSTEMPS64: return REAL(mkostemps64)(t, suffix, flags);
  }
  errno = EINVAL;
  return -1;
}

static int mkstemp_common(enum tmp_kind k, char *t, int suffix, int flags) {
  char abs[PBUF];
  int cs;
  if (!in_root(AT_FDCWD, t, abs) || !begin(&cs)) return mkstemp_real(k, t, suffix, flags);
  crash_point("mkstemp", -1, abs, -1, 0);
  int fe = fault_new_name(abs, 0);
  if (fe) {
    end(cs);
    errno = fe;
    return -1;
  }
  int fd = mkstemp_real(k, t, suffix, flags), e = errno;
  if (fd >= 0 && abs_path(AT_FDCWD, t, abs)) opened(fd, abs, flags | O_RDWR, 1);
  end(cs);
  errno = e;
  return fd;
}

int mkstemp(char *t) { return mkstemp_common(T_MKSTEMP, t, 0, 0); }
int mkstemp64(char *t) { return mkstemp_common(T_MKSTEMP64, t, 0, 0); }
int mkostemp(char *t, int flags) { return mkstemp_common(T_MKOSTEMP, t, 0, flags); }
int mkostemp64(char *t, int flags) { return mkstemp_common(T_MKOSTEMP64, t, 0, flags); }
int mkstemps(char *t, int suffix) { return mkstemp_common(T_MKSTEMPS, t, suffix, 0); }
int mkstemps64(char *t, int suffix) { return mkstemp_common(T_MKSTEMPS64, t, suffix, 0); }
int mkostemps(char *t, int suffix, int flags) { return mkstemp_common(T_MKOSTEMPS, t, suffix, flags); }
int mkostemps64(char *t, int suffix, int flags) { return mkstemp_common(T_MKOSTEMPS64, t, suffix, flags); }

/* ---------------------------------------------------------------- stdio */

/* glibc's FILE streams write through internal calls we cannot see, so a stream opened for
 * writing on the directory is handed back as a cookie stream (fopencookie) over an fd opened
 * through our open(): its read, write, seek and close functions call the traced read, write,
 * lseek and close, so fwrite/fprintf reach the trace when the stream flushes (fflush, a full
 * buffer, fclose). A cookie stream has no fd of its own (glibc's fileno says -1), so fileno()
 * and fileno_unlocked() are wrapped too: for one of ours they answer the fd under it, and
 * fsync(fileno(f)) is traced like any fsync. */

struct cookie {
  int fd;
  FILE *f;
  struct cookie *next;
};

static struct cookie *cookies; /* the live cookie streams, for fileno */
static int n_cookies;
static pthread_mutex_t cookies_mu = PTHREAD_MUTEX_INITIALIZER;

static void cookie_forget(struct cookie *c) {
  pthread_mutex_lock(&cookies_mu);
  for (struct cookie **p = &cookies; *p; p = &(*p)->next)
    if (*p == c) {
      *p = c->next;
      __atomic_store_n(&n_cookies, n_cookies - 1, __ATOMIC_RELEASE);
      break;
    }
  pthread_mutex_unlock(&cookies_mu);
}

static ssize_t cookie_read(void *v, char *buf, size_t n) { return read(((struct cookie *)v)->fd, buf, n); }

static ssize_t cookie_write(void *v, const char *buf, size_t n) {
  size_t done = 0;
  while (done < n) {
    ssize_t w = write(((struct cookie *)v)->fd, buf + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return done > 0 ? (ssize_t)done : -1;
    done += (size_t)w;
  }
  return (ssize_t)done;
}

static int cookie_seek(void *v, off64_t *pos, int whence) {
  off64_t r = lseek64(((struct cookie *)v)->fd, *pos, whence);
  if (r < 0) return -1;
  *pos = r;
  return 0;
}

static int cookie_close(void *v) {
  struct cookie *c = v;
  cookie_forget(c);
  int r = close(c->fd);
  free(c);
  return r;
}

/* A cookie stream over fd (which it owns from here on: closed by fclose), or NULL. */
static FILE *cookie_stream(int fd, const char *cmode) {
  struct cookie *c = malloc(sizeof *c);
  if (!c) return NULL;
  c->fd = fd;
  cookie_io_functions_t io = {cookie_read, cookie_write, cookie_seek, cookie_close};
  FILE *f = fopencookie(c, cmode, io);
  if (!f) {
    free(c);
    return NULL;
  }
  c->f = f;
  pthread_mutex_lock(&cookies_mu);
  c->next = cookies;
  cookies = c;
  __atomic_store_n(&n_cookies, n_cookies + 1, __ATOMIC_RELEASE);
  pthread_mutex_unlock(&cookies_mu);
  return f;
}

static int cookie_fd(FILE *f) {
  int fd = -1;
  pthread_mutex_lock(&cookies_mu);
  for (struct cookie *c = cookies; c; c = c->next)
    if (c->f == f) fd = c->fd;
  pthread_mutex_unlock(&cookies_mu);
  return fd;
}

int fileno(FILE *f) {
  int e = errno, fd = REAL(fileno)(f);
  if (fd >= 0 || !__atomic_load_n(&n_cookies, __ATOMIC_ACQUIRE)) return fd;
  int c = cookie_fd(f);
  if (c < 0) return fd;
  errno = e;
  return c;
}

int fileno_unlocked(FILE *f) {
  int e = errno, fd = REAL(fileno_unlocked)(f);
  if (fd >= 0 || !__atomic_load_n(&n_cookies, __ATOMIC_ACQUIRE)) return fd;
  int c = cookie_fd(f);
  if (c < 0) return fd;
  errno = e;
  return c;
}

/* An fopen mode's open(2) flags and the mode for fopencookie ("r+", "w", "a+"...); 0 if the
 * mode only reads, -1 if we do not follow it (",ccs=": a wide-character conversion). */
static int stdio_mode(const char *mode, int *flags, char cmode[4]) {
  if (!mode) return 0;
  int f, plus = 0;
  switch (mode[0]) {
  case 'r': f = 0; break;
  case 'w': f = O_CREAT | O_TRUNC; break;
  case 'a': f = O_CREAT | O_APPEND; break;
  default: return 0; /* invalid: libc says EINVAL */
  }
  for (const char *m = mode + 1; *m && *m != ','; m++) {
    if (*m == '+') plus = 1;
    else if (*m == 'x') f |= O_EXCL;
    else if (*m == 'e') f |= O_CLOEXEC;
  }
  if (strchr(mode, ',')) return mode[0] == 'r' && !plus ? 0 : -1;
  if (mode[0] == 'r' && !plus) return 0;
  *flags = f | (plus ? O_RDWR : O_WRONLY);
  cmode[0] = mode[0];
  cmode[1] = plus ? '+' : 0;
  cmode[2] = 0;
  return 1;
}

static FILE *fopen_real(int re, int lfs, const char *path, const char *mode, FILE *stream) {
  return re ? (lfs ? REAL(freopen64)(path, mode, stream) : REAL(freopen)(path, mode, stream))
            : (lfs ? REAL(fopen64)(path, mode) : REAL(fopen)(path, mode));
}

static FILE *fopen_common(int re, int lfs, const char *path, const char *mode, FILE *stream) {
  char abs[PBUF], cmode[4];
  int flags = 0, how = stdio_mode(mode, &flags, cmode);
  struct stat st;
  if (!how && !re && mode && fault_kind == F_EIO_READ && !strchr(mode, ',') && in_root(AT_FDCWD, path, abs) && strcmp(abs, read_file) == 0) {
    /* glibc reads a stream through internal calls: the file with a bad range gets a cookie stream */
    int fd = open(path, O_RDONLY | (strchr(mode, 'e') ? O_CLOEXEC : 0));
    FILE *f = fd < 0 ? NULL : cookie_stream(fd, "r");
    if (fd >= 0 && !f) {
      int e = errno;
      close(fd);
      errno = e;
    }
    return f;
  }
  if (!how || !in_root(AT_FDCWD, path, abs) || (stat(path, &st) == 0 && !S_ISREG(st.st_mode)))
    return fopen_real(re, lfs, path, mode, stream);
  if (how < 0 || re) {
    /* freopen must reuse the FILE it is given, which a cookie stream cannot be: refused. */
    int cs;
    if (!begin(&cs)) return fopen_real(re, lfs, path, mode, stream);
    FILE *f = fopen_real(re, lfs, path, mode, stream);
    int e = errno;
    if (f) rec_unsupported(re ? "stdio stream reopened for writing (freopen)" : "stdio stream with a ,ccs= conversion", abs);
    end(cs);
    errno = e;
    return f;
  }
  int fd = open(path, flags, 0666); /* ours: traced (create, truncate) */
  if (fd < 0) return NULL;
  if (flags & O_APPEND) (void)lseek64(fd, 0, SEEK_END);
  FILE *f = cookie_stream(fd, cmode);
  if (!f) {
    int e = errno;
    close(fd);
    errno = e;
  }
  return f;
}

FILE *fopen(const char *path, const char *mode) { return fopen_common(0, 0, path, mode, NULL); }
FILE *fopen64(const char *path, const char *mode) { return fopen_common(0, 1, path, mode, NULL); }
FILE *freopen(const char *path, const char *mode, FILE *s) { return fopen_common(1, 0, path, mode, s); }
FILE *freopen64(const char *path, const char *mode, FILE *s) { return fopen_common(1, 1, path, mode, s); }

FILE *fdopen(int fd, const char *mode) {
  char cmode[4];
  int flags = 0, how = stdio_mode(mode, &flags, cmode);
  if (!how || !tracked_fd(fd)) return REAL(fdopen)(fd, mode);
  int cs;
  if (how < 0) {
    if (!begin(&cs)) return REAL(fdopen)(fd, mode);
    struct fdent *ent = entry(fd);
    FILE *f = REAL(fdopen)(fd, mode);
    int e = errno;
    if (f && ent) rec_unsupported("stdio stream with a ,ccs= conversion (fdopen)", ent->path);
    end(cs);
    errno = e;
    return f;
  }
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0) return NULL; /* EBADF */
  if ((fl & O_ACCMODE) == O_RDONLY || ((flags & O_RDWR) && (fl & O_ACCMODE) != O_RDWR)) {
    errno = EINVAL; /* as glibc: the mode asks for more than the fd allows */
    return NULL;
  }
  if ((flags & O_APPEND) && !(fl & O_APPEND) && fcntl(fd, F_SETFL, fl | O_APPEND) != 0) return NULL;
  return cookie_stream(fd, cmode);
}

/* ---------------------------------------------------------------- writes */

enum write_kind { W_WRITE, W_WRITEV, W_PWRITE, W_PWRITE64, W_PWRITEV, W_PWRITEV64, W_PWRITEV2, W_PWRITEV64V2 };

static ssize_t write_real(enum write_kind k, int fd, const struct iovec *iov, int cnt, off64_t off, int flags) {
  switch (k) {
  case W_WRITE: return REAL(write)(fd, iov[0].iov_base, iov[0].iov_len);
  case W_WRITEV: return REAL(writev)(fd, iov, cnt);
  case W_PWRITE: return REAL(pwrite)(fd, iov[0].iov_base, iov[0].iov_len, (off_t)off);
  case W_PWRITE64: return REAL(pwrite64)(fd, iov[0].iov_base, iov[0].iov_len, off);
  case W_PWRITEV: return REAL(pwritev)(fd, iov, cnt, (off_t)off);
  case W_PWRITEV64: return REAL(pwritev64)(fd, iov, cnt, off);
  case W_PWRITEV2: return REAL(pwritev2)(fd, iov, cnt, (off_t)off, flags);
  case W_PWRITEV64V2: return REAL(pwritev64v2)(fd, iov, cnt, off, flags);
  }
  errno = EINVAL;
  return -1;
}

static ssize_t answer_write(enum write_kind k, int fd, const struct iovec *iov, int cnt, off64_t off, int flags);
static int answers_fd(int fd);

static ssize_t write_common(enum write_kind k, int fd, const struct iovec *iov, int cnt, off64_t off, int flags) {
  int cs;
  if (answers_fd(fd)) return answer_write(k, fd, iov, cnt, off, flags);
  if (!tracked_fd(fd) || !begin(&cs)) return write_real(k, fd, iov, cnt, off, flags);
  struct fdent *ent = entry(fd);
  struct iovec *cut = NULL; /* a write crossing an enospc budget writes this prefix */
  struct iovec *half = NULL; /* WALCHECK_FS_CRASH mid: the first half */
  if (ent && !ent->is_dir) {
    static const char *const label[] = {"write", "writev", "pwrite", "pwrite64", "pwritev", "pwritev64", "pwritev2", "pwritev64v2"};
    size_t n = iov_total(iov, cnt);
    if (crash_point(label[k], fd, ent->path, (long long)n, 1) == C_MID) {
      if ((half = malloc((size_t)cnt * sizeof *half)) == NULL) crash_now();
      cnt = iov_prefix(iov, cnt, n / 2, half);
      iov = half;
    }
  }
  if (ent && !ent->is_dir && fault_on()) {
    size_t n = iov_total(iov, cnt), allowed;
    int fe = fault_write(ent->path, n, &allowed);
    if (!fe && allowed < n && (cut = malloc((size_t)cnt * sizeof *cut)) == NULL) fe = ENOSPC;
    if (fe) {
      end(cs);
      errno = fe;
      return -1;
    }
    if (cut) {
      cnt = iov_prefix(iov, cnt, allowed, cut);
      iov = cut;
    }
  }
  ssize_t r = write_real(k, fd, iov, cnt, off, flags);
  int e = errno;
  if (ent && r > 0) {
    int v2 = k == W_PWRITEV2 || k == W_PWRITEV64V2;
    int positional = k >= W_PWRITE && !(v2 && off == -1);
    struct stat st;
    off64_t at;
    if (!positional)
      at = lseek(fd, 0, SEEK_CUR) - r; /* after an O_APPEND write too: the position is its end */
    else if (ent->append || (v2 && (flags & RWF_APPEND)))
      at = fstat(fd, &st) == 0 ? st.st_size - r : -1; /* Linux appends, whatever the offset */
    else
      at = off;
    if (at < 0) {
      rec_unsupported("write at an offset the recorder could not tell", ent->path);
    } else {
      rec_write(ent->ino, (unsigned long long)at, iov, cnt, (size_t)r);
      int sync = v2 && (flags & RWF_SYNC) ? 2 : v2 && (flags & RWF_DSYNC) && !ent->sync ? 1 : ent->sync;
      if (sync) rec_fsync(ent->ino, sync == 1);
    }
  }
  free(cut);
  free(half);
  end(cs);
  errno = e;
  return r;
}

static struct iovec one_buffer(const void *buf, size_t n) {
  struct iovec v = {(void *)buf, n};
  return v;
}

ssize_t write(int fd, const void *buf, size_t n) {
  struct iovec v = one_buffer(buf, n);
  return write_common(W_WRITE, fd, &v, 1, -1, 0);
}
ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) {
  struct iovec v = one_buffer(buf, n);
  return write_common(W_PWRITE, fd, &v, 1, off, 0);
}
ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off) {
  struct iovec v = one_buffer(buf, n);
  return write_common(W_PWRITE64, fd, &v, 1, off, 0);
}
ssize_t writev(int fd, const struct iovec *iov, int cnt) { return write_common(W_WRITEV, fd, iov, cnt, -1, 0); }
ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off) { return write_common(W_PWRITEV, fd, iov, cnt, off, 0); }
ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off64_t off) { return write_common(W_PWRITEV64, fd, iov, cnt, off, 0); }
ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags) { return write_common(W_PWRITEV2, fd, iov, cnt, off, flags); }
ssize_t pwritev64v2(int fd, const struct iovec *iov, int cnt, off64_t off, int flags) { return write_common(W_PWRITEV64V2, fd, iov, cnt, off, flags); }

/* ---------------------------------------------------------------- reads (eio-read only) */

enum read_kind { RD_READ, RD_READV, RD_PREAD, RD_PREAD64, RD_PREADV, RD_PREADV64, RD_PREADV2, RD_PREADV64V2 };

static ssize_t read_real(enum read_kind k, int fd, const struct iovec *iov, int cnt, off64_t off, int flags) {
  switch (k) {
  case RD_READ: return REAL(read)(fd, iov[0].iov_base, iov[0].iov_len);
  case RD_READV: return REAL(readv)(fd, iov, cnt);
  case RD_PREAD: return REAL(pread)(fd, iov[0].iov_base, iov[0].iov_len, (off_t)off);
  case RD_PREAD64: return REAL(pread64)(fd, iov[0].iov_base, iov[0].iov_len, off);
  case RD_PREADV: return REAL(preadv)(fd, iov, cnt, (off_t)off);
  case RD_PREADV64: return REAL(preadv64)(fd, iov, cnt, off);
  case RD_PREADV2: return REAL(preadv2)(fd, iov, cnt, (off_t)off, flags);
  case RD_PREADV64V2: return REAL(preadv64v2)(fd, iov, cnt, off, flags);
  }
  errno = EINVAL;
  return -1;
}

/* Without an eio-read fault: one load and the real call. With one, a read of the file whose
 * range [pos, pos+n) overlaps the bad range returns the bytes before it (a short count) if it
 * starts before it, else fails with EIO. */
static ssize_t read_common(enum read_kind k, int fd, const struct iovec *iov, int cnt, off64_t off, int flags) {
  int cs;
  if (__atomic_load_n(&fault_kind, __ATOMIC_RELAXED) != F_EIO_READ || !tracked_fd(fd) || !begin(&cs))
    return read_real(k, fd, iov, cnt, off, flags);
  struct fdent *ent = entry(fd);
  struct iovec *cut = NULL;
  if (ent && !ent->is_dir && strcmp(ent->path, read_file) == 0) {
    int positional = k >= RD_PREAD && !((k == RD_PREADV2 || k == RD_PREADV64V2) && off == -1);
    off64_t pos = positional ? off : lseek64(fd, 0, SEEK_CUR);
    unsigned long long n = iov_total(iov, cnt), p = (unsigned long long)pos;
    if (pos >= 0 && n > 0 && p < read_off + read_len && p + n > read_off) {
      if (p >= read_off || (cut = malloc((size_t)cnt * sizeof *cut)) == NULL) {
        end(cs);
        errno = EIO;
        return -1;
      }
      cnt = iov_prefix(iov, cnt, (size_t)(read_off - p), cut);
      iov = cut;
    }
  }
  ssize_t r = read_real(k, fd, iov, cnt, off, flags);
  int e = errno;
  free(cut);
  end(cs);
  errno = e;
  return r;
}

ssize_t read(int fd, void *buf, size_t n) {
  struct iovec v = {buf, n};
  return read_common(RD_READ, fd, &v, 1, -1, 0);
}
ssize_t pread(int fd, void *buf, size_t n, off_t off) {
  struct iovec v = {buf, n};
  return read_common(RD_PREAD, fd, &v, 1, off, 0);
}
ssize_t pread64(int fd, void *buf, size_t n, off64_t off) {
  struct iovec v = {buf, n};
  return read_common(RD_PREAD64, fd, &v, 1, off, 0);
}
ssize_t readv(int fd, const struct iovec *iov, int cnt) { return read_common(RD_READV, fd, iov, cnt, -1, 0); }
ssize_t preadv(int fd, const struct iovec *iov, int cnt, off_t off) { return read_common(RD_PREADV, fd, iov, cnt, off, 0); }
ssize_t preadv64(int fd, const struct iovec *iov, int cnt, off64_t off) { return read_common(RD_PREADV64, fd, iov, cnt, off, 0); }
ssize_t preadv2(int fd, const struct iovec *iov, int cnt, off_t off, int flags) { return read_common(RD_PREADV2, fd, iov, cnt, off, flags); }
ssize_t preadv64v2(int fd, const struct iovec *iov, int cnt, off64_t off, int flags) { return read_common(RD_PREADV64V2, fd, iov, cnt, off, flags); }

/* The fortified forms (_FORTIFY_SOURCE) call glibc's internal read, past the wrappers above. */
ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen);
ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen);
ssize_t __pread64_chk(int fd, void *buf, size_t n, off64_t off, size_t buflen);
ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen) {
  return n > buflen || __atomic_load_n(&fault_kind, __ATOMIC_RELAXED) != F_EIO_READ ? REAL(__read_chk)(fd, buf, n, buflen) : read(fd, buf, n);
}
ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen) {
  return n > buflen || __atomic_load_n(&fault_kind, __ATOMIC_RELAXED) != F_EIO_READ ? REAL(__pread_chk)(fd, buf, n, off, buflen) : pread(fd, buf, n, off);
}
ssize_t __pread64_chk(int fd, void *buf, size_t n, off64_t off, size_t buflen) {
  return n > buflen || __atomic_load_n(&fault_kind, __ATOMIC_RELAXED) != F_EIO_READ ? REAL(__pread64_chk)(fd, buf, n, off, buflen) : pread64(fd, buf, n, off);
}

/* Under the lock: n bytes were copied from `in` at src into the tracked file at dst; record them
 * as a write of the bytes read back from the source (its range is unchanged by the copy). */
static void rec_copied(const char *what, const struct fdent *e, int out, int in, off64_t src, off64_t dst, ssize_t n) {
  struct stat st;
  if (e->append) dst = fstat(out, &st) == 0 ? st.st_size - n : -1;
  char *buf = src >= 0 && dst >= 0 ? malloc((size_t)n) : NULL;
  ssize_t got = 0;
  while (buf && got < n) {
    ssize_t r = REAL(pread64)(in, buf + got, (size_t)(n - got), src + got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += r;
  }
  if (buf && got == n) {
    struct iovec v = one_buffer(buf, (size_t)n);
    rec_write(e->ino, (unsigned long long)dst, &v, 1, (size_t)n);
  } else {
    rec_unsupported(what, e->path);
  }
  free(buf);
}

static off64_t position(int fd, const void *given, int wide) {
  if (given) return wide ? *(const off64_t *)given : *(const off_t *)given;
  return lseek64(fd, 0, SEEK_CUR);
}

ssize_t copy_file_range(int in, off64_t *off_in, int out, off64_t *off_out, size_t len, unsigned int flags) {
  int cs;
  if (!tracked_fd(out) || !begin(&cs)) return REAL(copy_file_range)(in, off_in, out, off_out, len, flags);
  struct fdent *ent = entry(out);
  if (ent && !ent->is_dir) crash_point_fd("copy_file_range", out, ent, (long long)len, 0);
  int fe = ent && !ent->is_dir ? fault_change(ent->path, 0) : 0;
  if (fe) {
    end(cs);
    errno = fe;
    return -1;
  }
  off64_t src = position(in, off_in, 1), dst = position(out, off_out, 1);
  ssize_t r = REAL(copy_file_range)(in, off_in, out, off_out, len, flags);
  int e = errno;
  if (ent && r > 0) rec_copied("copy_file_range", ent, out, in, src, dst, r);
  end(cs);
  errno = e;
  return r;
}

static ssize_t sendfile_common(int wide, int out, int in, void *offset, size_t count) {
  int cs;
#define SENDFILE_REAL() (wide ? REAL(sendfile64)(out, in, offset, count) : REAL(sendfile)(out, in, offset, count))
  if (!tracked_fd(out) || !begin(&cs)) return SENDFILE_REAL();
  struct fdent *ent = entry(out);
  if (ent && !ent->is_dir) crash_point_fd("sendfile", out, ent, (long long)count, 0);
  int fe = ent && !ent->is_dir ? fault_change(ent->path, 0) : 0;
  if (fe) {
    end(cs);
    errno = fe;
    return -1;
  }
  off64_t src = position(in, offset, wide), dst = position(out, NULL, 1);
  ssize_t r = SENDFILE_REAL();
  int e = errno;
  if (ent && r > 0) rec_copied("sendfile", ent, out, in, src, dst, r);
  end(cs);
  errno = e;
  return r;
#undef SENDFILE_REAL
}

ssize_t sendfile(int out, int in, off_t *offset, size_t count) { return sendfile_common(0, out, in, offset, count); }
ssize_t sendfile64(int out, int in, off64_t *offset, size_t count) { return sendfile_common(1, out, in, offset, count); }

/* For the calls we only refuse: if fd is tracked, make the call under the lock and, if `ok`
 * (an expression of its result r_), record `what` as unsupported. */
#define REFUSE_ON_FD(fd, call, ok, what)                      \
  do {                                                        \
    int fd_ = (fd), cs_;                                      \
    if (!tracked_fd(fd_) || !begin(&cs_)) return call;        \
    struct fdent *ent_ = entry(fd_);                          \
    __typeof__(call) r_ = call;                               \
    int e_ = errno;                                           \
    if (ent_ && (ok)) rec_unsupported(what, ent_->path);      \
    end(cs_);                                                 \
    errno = e_;                                               \
    return r_;                                                \
  } while (0)

ssize_t splice(int in, off64_t *off_in, int out, off64_t *off_out, size_t len, unsigned int flags) {
  REFUSE_ON_FD(out, REAL(splice)(in, off_in, out, off_out, len, flags), r_ > 0, "splice");
}

int ioctl(int fd, unsigned long request, ...) {
  va_list ap;
  va_start(ap, request);
  void *arg = va_arg(ap, void *);
  va_end(ap);
  if (request != (unsigned long)FICLONE && request != (unsigned long)FICLONERANGE) return REAL(ioctl)(fd, request, arg);
  REFUSE_ON_FD(fd, REAL(ioctl)(fd, request, arg), r_ == 0, "ioctl FICLONE/FICLONERANGE");
}

/* POSIX AIO: glibc's threads write through internal calls we do not see. */
int aio_write(struct aiocb *cb) { REFUSE_ON_FD(cb->aio_fildes, REAL(aio_write)(cb), r_ == 0, "aio_write"); }
int aio_write64(struct aiocb64 *cb) { REFUSE_ON_FD(cb->aio_fildes, REAL(aio_write64)(cb), r_ == 0, "aio_write"); }

/* The first tracked fd a lio_listio list writes to, or -1. */
#define LIO_TARGET(list, n)                                                                                   \
  ({                                                                                                          \
    int t_ = -1;                                                                                              \
    for (int k_ = 0; k_ < (n) && t_ < 0; k_++)                                                                \
      if ((list)[k_] && (list)[k_]->aio_lio_opcode == LIO_WRITE && tracked_fd((list)[k_]->aio_fildes)) t_ = (list)[k_]->aio_fildes; \
    t_;                                                                                                       \
  })

int lio_listio(int mode, struct aiocb *const list[], int n, struct sigevent *sig) {
  REFUSE_ON_FD(LIO_TARGET(list, n), REAL(lio_listio)(mode, list, n, sig), r_ == 0, "lio_listio");
}
int lio_listio64(int mode, struct aiocb64 *const list[], int n, struct sigevent *sig) {
  REFUSE_ON_FD(LIO_TARGET(list, n), REAL(lio_listio64)(mode, list, n, sig), r_ == 0, "lio_listio");
}

/* ---------------------------------------------------------------- barriers, sizes */

static int sync_common(int fd, int datasync) {
  int cs;
  if (!tracked_fd(fd) || !begin(&cs)) return datasync ? REAL(fdatasync)(fd) : REAL(fsync)(fd);
  struct fdent *ent = entry(fd);
  int slowed = 0;
  if (ent && fault_kind == F_SLOW_FSYNC && under_fault_root(ent->path) && !released()) {
    slowed = 1;
    end(cs); /* others' calls go on meanwhile */
    struct timespec t = {(time_t)(fault_arg / 1000), (long)(fault_arg % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0 && errno == EINTR) {
    }
    (void)begin(&cs);
    ent = entry(fd);
  }
  crash_note = slowed ? "slow-fsync" : NULL;
  crash_point_fd(datasync ? "fdatasync" : "fsync", fd, ent, -1, 0);
  crash_note = NULL;
  if (ent && fault_kind == F_EIO_FSYNC && under_fault_root(ent->path) && ++fault_syncs == fault_arg && !released()) {
    /* fsyncgate: the dirty data is dropped, and the error reported (once) */
    if (ent->synced >= 0 && REAL(ftruncate64)(fd, ent->synced) == 0) rec_truncate(ent->ino, (unsigned long long)ent->synced);
    end(cs);
    errno = EIO;
    return -1;
  }
  int r = datasync ? REAL(fdatasync)(fd) : REAL(fsync)(fd), e = errno;
  if (ent && r == 0) rec_sync(ent, datasync);
  struct stat st;
  if (ent && r == 0 && fault_kind == F_EIO_FSYNC && ent->synced >= 0 && fstat(fd, &st) == 0) ent->synced = (long long)st.st_size;
  end(cs);
  errno = e;
  return r;
}

int fsync(int fd) { return sync_common(fd, 0); }
int fdatasync(int fd) { return sync_common(fd, 1); }

/* sync() and syncfs() make everything durable at once: not modelled, refused once something was
 * recorded (before that the directory is durable anyway). */
static void rec_global_sync(const char *what) {
  if (trace_lines > 0) rec_unsupported(what, root);
}

void sync(void) {
  int cs;
  if (!__atomic_load_n(&active, __ATOMIC_RELAXED) || !begin(&cs)) {
    REAL(sync)();
    return;
  }
  REAL(sync)();
  rec_global_sync("sync");
  end(cs);
}

int syncfs(int fd) {
  int cs;
  struct stat st;
  if (!__atomic_load_n(&active, __ATOMIC_RELAXED) || fstat(fd, &st) != 0 || (root_dev_known && st.st_dev != root_dev) || !begin(&cs))
    return REAL(syncfs)(fd);
  int r = REAL(syncfs)(fd), e = errno;
  if (r == 0) rec_global_sync("syncfs");
  end(cs);
  errno = e;
  return r;
}

static int ftruncate_common(int wide, int fd, off64_t len) {
  int cs;
  if (!tracked_fd(fd) || !begin(&cs)) return wide ? REAL(ftruncate64)(fd, len) : REAL(ftruncate)(fd, (off_t)len);
  struct fdent *ent = entry(fd);
  if (ent && !ent->is_dir) crash_point_fd("ftruncate", fd, ent, -1, 0);
  int fe = ent && !ent->is_dir ? fault_change(ent->path, 0) : 0;
  if (fe) {
    end(cs);
    errno = fe;
    return -1;
  }
  int r = wide ? REAL(ftruncate64)(fd, len) : REAL(ftruncate)(fd, (off_t)len), e = errno;
  if (ent && r == 0 && !ent->is_dir) rec_truncate(ent->ino, (unsigned long long)len);
  end(cs);
  errno = e;
  return r;
}

int ftruncate(int fd, off_t len) { return ftruncate_common(0, fd, len); }
int ftruncate64(int fd, off64_t len) { return ftruncate_common(1, fd, len); }

static int truncate_common(int wide, const char *path, off64_t len) {
  char abs[PBUF];
  int cs;
  if (!in_root(AT_FDCWD, path, abs) || !begin(&cs)) return wide ? REAL(truncate64)(path, len) : REAL(truncate)(path, (off_t)len);
  struct stat pre;
  crash_point("truncate", -1, abs, -1, 0);
  int fe = fault_on() && stat(path, &pre) == 0 && S_ISREG(pre.st_mode) ? fault_change(abs, 1) : 0;
  if (fe) {
    end(cs);
    errno = fe;
    return -1;
  }
  int r = wide ? REAL(truncate64)(path, len) : REAL(truncate)(path, (off_t)len), e = errno;
  struct stat st;
  if (r == 0 && stat(path, &st) == 0) rec_truncate(st.st_ino, (unsigned long long)len);
  end(cs);
  errno = e;
  return r;
}

int truncate(const char *path, off_t len) { return truncate_common(0, path, len); }
int truncate64(const char *path, off64_t len) { return truncate_common(1, path, len); }

enum alloc_kind { A_FALLOCATE, A_FALLOCATE64, A_POSIX, A_POSIX64 };

/* Returns 0 on success, like all four (posix_fallocate returns an error number instead of -1). */
static int fallocate_real(enum alloc_kind k, int fd, int mode, off64_t off, off64_t len) {
  switch (k) {
  case A_FALLOCATE: return REAL(fallocate)(fd, mode, (off_t)off, (off_t)len);
  case A_FALLOCATE64: return REAL(fallocate64)(fd, mode, off, len);
  case A_POSIX: return REAL(posix_fallocate)(fd, (off_t)off, (off_t)len);
  case A_POSIX64: return REAL(posix_fallocate64)(fd, off, len);
  }
  return EINVAL;
}

static int fallocate_common(enum alloc_kind k, int fd, int mode, off64_t off, off64_t len) {
  int cs;
  if (!tracked_fd(fd) || !begin(&cs)) return fallocate_real(k, fd, mode, off, len);
  struct fdent *ent = entry(fd);
  if (ent && !ent->is_dir) crash_point_fd(k == A_POSIX || k == A_POSIX64 ? "posix_fallocate" : "fallocate", fd, ent, -1, 0);
  int fe = ent && !ent->is_dir ? fault_change(ent->path, 0) : 0;
  if (fe) {
    end(cs);
    errno = fe;
    return k == A_POSIX || k == A_POSIX64 ? fe : -1;
  }
  struct stat before, after;
  int had = fstat(fd, &before) == 0;
  int r = fallocate_real(k, fd, mode, off, len), e = errno;
  if (ent && r == 0 && mode == 0) {
    if (had && fstat(fd, &after) == 0 && after.st_size > before.st_size) rec_truncate(ent->ino, (unsigned long long)after.st_size);
  } else if (ent && r == 0 && mode != FALLOC_FL_KEEP_SIZE) {
    char what[40];
    snprintf(what, sizeof what, "fallocate mode 0x%x", (unsigned)mode);
    rec_unsupported(what, ent->path);
  }
  end(cs);
  errno = e;
  return r;
}

int fallocate(int fd, int mode, off_t off, off_t len) { return fallocate_common(A_FALLOCATE, fd, mode, off, len); }
int fallocate64(int fd, int mode, off64_t off, off64_t len) { return fallocate_common(A_FALLOCATE64, fd, mode, off, len); }
int posix_fallocate(int fd, off_t off, off_t len) { return fallocate_common(A_POSIX, fd, 0, off, len); }
int posix_fallocate64(int fd, off64_t off, off64_t len) { return fallocate_common(A_POSIX64, fd, 0, off, len); }

/* ---------------------------------------------------------------- fds */

int close(int fd) {
  int cs;
  if (!tracked_fd(fd) || !begin(&cs)) return REAL(close)(fd);
  if (crash_on) crash_point_fd("close", fd, entry(fd), -1, 0);
  forget(fd);
  int r = REAL(close)(fd), e = errno;
  end(cs);
  errno = e;
  return r;
}

int dup(int fd) {
  int cs;
  if (!tracked_fd(fd) || !begin(&cs)) return REAL(dup)(fd);
  int r = REAL(dup)(fd), e = errno;
  if (r >= 0) copy_entry(fd, r);
  end(cs);
  errno = e;
  return r;
}

static int dup2_common(int three, int from, int to, int flags) {
  int cs;
  if ((!tracked_fd(from) && !tracked_fd(to)) || from == to || !begin(&cs)) return three ? REAL(dup3)(from, to, flags) : REAL(dup2)(from, to);
  int r = three ? REAL(dup3)(from, to, flags) : REAL(dup2)(from, to), e = errno;
  if (r >= 0) copy_entry(from, to);
  end(cs);
  errno = e;
  return r;
}

int dup2(int from, int to) { return dup2_common(0, from, to, 0); }
int dup3(int from, int to, int flags) { return dup2_common(1, from, to, flags); }

static int fcntl_common(int wide, int fd, int cmd, void *arg) {
  int cs;
#define FCNTL_REAL() (wide ? REAL(fcntl64)(fd, cmd, arg) : REAL(fcntl)(fd, cmd, arg))
  if ((cmd != F_DUPFD && cmd != F_DUPFD_CLOEXEC && cmd != F_SETFL) || !tracked_fd(fd) || !begin(&cs)) return FCNTL_REAL();
  int r = FCNTL_REAL(), e = errno;
  struct fdent *ent = entry(fd);
  if (r >= 0 && cmd != F_SETFL) copy_entry(fd, r);
  if (r >= 0 && cmd == F_SETFL && ent) ent->append = ((int)(intptr_t)arg & O_APPEND) != 0;
  end(cs);
  errno = e;
  return r;
#undef FCNTL_REAL
}

int fcntl(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  void *arg = va_arg(ap, void *);
  va_end(ap);
  return fcntl_common(0, fd, cmd, arg);
}

int fcntl64(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  void *arg = va_arg(ap, void *);
  va_end(ap);
  return fcntl_common(1, fd, cmd, arg);
}

/* ---------------------------------------------------------------- names */

enum rename_kind { R_RENAME, R_RENAMEAT, R_RENAMEAT2 };

static int rename_real(enum rename_kind k, int ofd, const char *from, int nfd, const char *to, unsigned flags) {
  if (k == R_RENAME) return REAL(rename)(from, to);
  if (k == R_RENAMEAT) return REAL(renameat)(ofd, from, nfd, to);
  return REAL(renameat2)(ofd, from, nfd, to, flags);
}

static int rename_common(enum rename_kind k, int ofd, const char *from, int nfd, const char *to, unsigned flags) {
  char a[PBUF], b[PBUF];
  int cs, fin = in_root(ofd, from, a), tin = in_root(nfd, to, b);
  if ((!fin && !tin) || !begin(&cs)) return rename_real(k, ofd, from, nfd, to, flags);
  struct stat sf, st;
  memset(&sf, 0, sizeof sf);
  int had_from = fstatat(ofd, from, &sf, AT_SYMLINK_NOFOLLOW) == 0, had_to = fstatat(nfd, to, &st, AT_SYMLINK_NOFOLLOW) == 0;
  crash_point(k == R_RENAME ? "rename" : k == R_RENAMEAT ? "renameat" : "renameat2", -1, fin && in_fault_dir(a) ? a : tin ? b : NULL, -1, 0);
  int fe = fault_on() ? (fin ? fault_old_name(a, had_from) : 0) : 0;
  if (!fe && fault_on() && tin) fe = fault_old_name(b, had_from);
  if (fe) {
    end(cs);
    errno = fe;
    return -1;
  }
  int r = rename_real(k, ofd, from, nfd, to, flags), e = errno;
  if (r != 0 || (had_from && had_to && sf.st_ino == st.st_ino && sf.st_dev == st.st_dev)) {
    /* failed, or two names of one inode: rename does nothing */
  } else if (flags & ~(unsigned)RENAME_NOREPLACE) {
    rec_unsupported("renameat2 with RENAME_EXCHANGE or RENAME_WHITEOUT", fin ? a : b);
  } else if (fin && tin) {
    rec_two_paths("rename", a, b, sf.st_ino, had_to ? &st : NULL);
  } else if (tin) {
    rec_unsupported("rename into the recorded directory", b);
  } else if (S_ISDIR(sf.st_mode)) {
    rec_unsupported("rename of a directory out of the recorded directory", a);
  } else {
    rec_unlink(a, sf.st_ino); /* out of the directory: gone from it, as far as it can tell */
  }
  end(cs);
  errno = e;
  return r;
}

int rename(const char *from, const char *to) { return rename_common(R_RENAME, AT_FDCWD, from, AT_FDCWD, to, 0); }
int renameat(int ofd, const char *from, int nfd, const char *to) { return rename_common(R_RENAMEAT, ofd, from, nfd, to, 0); }
int renameat2(int ofd, const char *from, int nfd, const char *to, unsigned int flags) { return rename_common(R_RENAMEAT2, ofd, from, nfd, to, flags); }

enum unlink_kind { U_UNLINK, U_UNLINKAT, U_RMDIR, U_REMOVE };

static int unlink_real(enum unlink_kind k, int dirfd, const char *path, int flags) {
  switch (k) {
  case U_UNLINK: return REAL(unlink)(path);
  case U_UNLINKAT: return REAL(unlinkat)(dirfd, path, flags);
  case U_RMDIR: return REAL(rmdir)(path);
  case U_REMOVE: return REAL(remove)(path);
  }
  errno = EINVAL;
  return -1;
}

static int unlink_common(enum unlink_kind k, int dirfd, const char *path, int flags) {
  char abs[PBUF];
  int cs;
  if (!in_root(dirfd, path, abs) || !begin(&cs)) return unlink_real(k, dirfd, path, flags);
  struct stat st;
  memset(&st, 0, sizeof st);
  int had = fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
  static const char *const label[] = {"unlink", "unlinkat", "rmdir", "remove"};
  crash_point(label[k], -1, abs, -1, 0);
  int fe = fault_old_name(abs, had);
  if (fe) {
    end(cs);
    errno = fe;
    return -1;
  }
  int r = unlink_real(k, dirfd, path, flags), e = errno;
  if (r == 0) {
    if (k == U_RMDIR || (flags & AT_REMOVEDIR) || (k == U_REMOVE && had && S_ISDIR(st.st_mode)))
      rec_path("rmdir", abs);
    else
      rec_unlink(abs, st.st_ino);
  }
  end(cs);
  errno = e;
  return r;
}

int unlink(const char *path) { return unlink_common(U_UNLINK, AT_FDCWD, path, 0); }
int unlinkat(int dirfd, const char *path, int flags) { return unlink_common(U_UNLINKAT, dirfd, path, flags); }
int rmdir(const char *path) { return unlink_common(U_RMDIR, AT_FDCWD, path, 0); }
int remove(const char *path) { return unlink_common(U_REMOVE, AT_FDCWD, path, 0); }

/* mkdir, mkdirat, mknod, mknodat, symlink, symlinkat: calls that make one new name. */
enum make_kind { M_MKDIR, M_MKDIRAT, M_MKNOD, M_MKNODAT, M_SYMLINK, M_SYMLINKAT };

static int make_real(enum make_kind k, int dirfd, const char *path, mode_t mode, dev_t dev, const char *target) {
  switch (k) {
  case M_MKDIR: return REAL(mkdir)(path, mode);
  case M_MKDIRAT: return REAL(mkdirat)(dirfd, path, mode);
  case M_MKNOD: return REAL(mknod)(path, mode, dev);
  case M_MKNODAT: return REAL(mknodat)(dirfd, path, mode, dev);
  case M_SYMLINK: return REAL(symlink)(target, path);
  case M_SYMLINKAT: return REAL(symlinkat)(target, dirfd, path);
  }
  errno = EINVAL;
  return -1;
}

static int make_common(enum make_kind k, int dirfd, const char *path, mode_t mode, dev_t dev, const char *target) {
  char abs[PBUF];
  int cs;
  if (!in_root(dirfd, path, abs) || !begin(&cs)) return make_real(k, dirfd, path, mode, dev, target);
  struct stat pre;
  static const char *const label[] = {"mkdir", "mkdirat", "mknod", "mknodat", "symlink", "symlinkat"};
  crash_point(label[k], -1, abs, -1, 0);
  int fe = fault_on() ? fault_new_name(abs, fstatat(dirfd, path, &pre, AT_SYMLINK_NOFOLLOW) == 0) : 0;
  if (fe) {
    end(cs);
    errno = fe;
    return -1;
  }
  int r = make_real(k, dirfd, path, mode, dev, target), e = errno;
  struct stat st;
  if (r == 0 && (k == M_MKDIR || k == M_MKDIRAT))
    rec_path("mkdir", abs);
  else if (r == 0 && (k == M_MKNOD || k == M_MKNODAT) && (S_ISREG(mode) || (mode & S_IFMT) == 0) && fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0)
    rec_create(abs, st.st_ino);
  else if (r == 0)
    rec_unsupported(k == M_SYMLINK || k == M_SYMLINKAT ? "symlink" : "mknod of a special file", abs);
  end(cs);
  errno = e;
  return r;
}

int mkdir(const char *path, mode_t mode) { return make_common(M_MKDIR, AT_FDCWD, path, mode, 0, NULL); }
int mkdirat(int dirfd, const char *path, mode_t mode) { return make_common(M_MKDIRAT, dirfd, path, mode, 0, NULL); }
int mknod(const char *path, mode_t mode, dev_t dev) { return make_common(M_MKNOD, AT_FDCWD, path, mode, dev, NULL); }
int mknodat(int dirfd, const char *path, mode_t mode, dev_t dev) { return make_common(M_MKNODAT, dirfd, path, mode, dev, NULL); }
int symlink(const char *target, const char *path) { return make_common(M_SYMLINK, AT_FDCWD, path, 0, 0, target); }
int symlinkat(const char *target, int dirfd, const char *path) { return make_common(M_SYMLINKAT, dirfd, path, 0, 0, target); }

char *mkdtemp(char *t) {
  char abs[PBUF];
  int cs;
  if (!in_root(AT_FDCWD, t, abs) || !begin(&cs)) return REAL(mkdtemp)(t);
  crash_point("mkdtemp", -1, abs, -1, 0);
  int fe = fault_new_name(abs, 0);
  if (fe) {
    end(cs);
    errno = fe;
    return NULL;
  }
  char *r = REAL(mkdtemp)(t);
  int e = errno;
  if (r && abs_path(AT_FDCWD, t, abs)) rec_path("mkdir", abs);
  end(cs);
  errno = e;
  return r;
}

static int link_common(int at, int ofd, const char *from, int nfd, const char *to, int flags) {
  char a[PBUF], b[PBUF];
  int empty = (flags & AT_EMPTY_PATH) && from && !*from;
  int cs, fin = !empty && in_root(ofd, from, a), tin = in_root(nfd, to, b);
  if ((!fin && !tin) || !begin(&cs)) return at ? REAL(linkat)(ofd, from, nfd, to, flags) : REAL(link)(from, to);
  struct stat st;
  int had = !empty && fstatat(ofd, from, &st, (flags & AT_SYMLINK_FOLLOW) ? 0 : AT_SYMLINK_NOFOLLOW) == 0;
  struct stat pre;
  crash_point(at ? "linkat" : "link", -1, tin && in_fault_dir(b) ? b : fin ? a : NULL, -1, 0);
  int fe = fault_on() && tin ? fault_new_name(b, fstatat(nfd, to, &pre, AT_SYMLINK_NOFOLLOW) == 0) : 0;
  if (fe) {
    end(cs);
    errno = fe;
    return -1;
  }
  int r = at ? REAL(linkat)(ofd, from, nfd, to, flags) : REAL(link)(from, to), e = errno;
  if (r == 0 && fin && tin && had)
    rec_two_paths("link", a, b, st.st_ino, NULL);
  else if (r == 0)
    rec_unsupported(empty ? "linkat of an fd (AT_EMPTY_PATH)" : tin ? "link into the recorded directory" : "link out of the recorded directory", tin ? b : a);
  end(cs);
  errno = e;
  return r;
}

int link(const char *from, const char *to) { return link_common(0, AT_FDCWD, from, AT_FDCWD, to, 0); }
int linkat(int ofd, const char *from, int nfd, const char *to, int flags) { return link_common(1, ofd, from, nfd, to, flags); }

/* ---------------------------------------------------------------- the adapter's answers (stdout) */

/* With WALCHECK_POWER_STDOUT set, every write to fd 1 that reaches walcheck's pipe (the file
 * the first recorded process had as its fd 1) is a "stdout" op with the bytes written, taken
 * under the lock like a file operation: the trace then says which fs operations came before
 * each answer line the adapter wrote (a pipelined life pins each acknowledgment there). The
 * first process (the variable is "1") replaces it with "dev:ino" of its fd 1, so its children
 * inherit the pipe's identity: a wrapper's child that writes into a pipe of the wrapper's own
 * is not recorded (the wrapper's write of the relayed line is). stdio's stdout is written by
 * glibc internally, not through write(): not seen (the answers of such an adapter are pinned
 * where walcheck read them instead). */
static int answers_on;
static dev_t answers_dev;
static ino_t answers_ino;

static int answers_fd(int fd) {
  struct stat st;
  if (fd != 1 || !__atomic_load_n(&answers_on, __ATOMIC_RELAXED) || !mine()) return 0;
  return fstat(1, &st) == 0 && st.st_dev == answers_dev && st.st_ino == answers_ino;
}

static ssize_t answer_write(enum write_kind k, int fd, const struct iovec *iov, int cnt, off64_t off, int flags) {
  int cs;
  if (!begin(&cs)) return write_real(k, fd, iov, cnt, off, flags);
  ssize_t r = write_real(k, fd, iov, cnt, off, flags);
  int e = errno;
  if (r > 0) {
    struct line l = op_begin("stdout");
    key(&l, "data");
    put_base64(&l, iov, cnt, (size_t)r);
    op_end(&l);
  }
  end(cs);
  errno = e;
  return r;
}

static void answers_start(void) {
  const char *v = getenv("WALCHECK_POWER_STDOUT");
  unsigned long long d, i;
  char n;
  struct stat st;
  if (!v || !*v) return;
  if (sscanf(v, "%llu:%llu%c", &d, &i, &n) == 2) {
    answers_dev = (dev_t)d;
    answers_ino = (ino_t)i;
  } else if (fstat(1, &st) == 0) {
    char id[64];
    answers_dev = st.st_dev;
    answers_ino = st.st_ino;
    snprintf(id, sizeof id, "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
    setenv("WALCHECK_POWER_STDOUT", id, 1);
  } else {
    return;
  }
  answers_on = 1;
}

/* ---------------------------------------------------------------- syscall(2) */

/* libuv calls copy_file_range (and io_uring) through syscall(2); route the numbers of the calls
 * above through their wrappers (64-bit ABIs only: offsets in one register). */
long syscall(long n, ...) {
  va_list ap;
  va_start(ap, n);
  long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long);
  long d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
  va_end(ap);
#if __SIZEOF_LONG__ == 8
  if (__atomic_load_n(&active, __ATOMIC_RELAXED)) {
    const char *s1 = (const char *)a, *s2 = (const char *)b;
    const struct iovec *v = (const struct iovec *)b;
    switch (n) {
    case SYS_write: return write((int)a, (const void *)b, (size_t)c);
    case SYS_pwrite64: return pwrite64((int)a, (const void *)b, (size_t)c, d);
    case SYS_writev: return writev((int)a, v, (int)c);
    case SYS_pwritev: return pwritev64((int)a, v, (int)c, d);
#ifdef SYS_pwritev2
    case SYS_pwritev2: return pwritev64v2((int)a, v, (int)c, d, (int)f);
#endif
    case SYS_fsync: return fsync((int)a);
    case SYS_fdatasync: return fdatasync((int)a);
    case SYS_ftruncate: return ftruncate64((int)a, b);
    case SYS_truncate: return truncate64(s1, b);
    case SYS_fallocate: return fallocate64((int)a, (int)b, c, d);
    case SYS_openat: return openat((int)a, s2, (int)c, (mode_t)d);
    case SYS_close: return close((int)a);
    case SYS_dup: return dup((int)a);
    case SYS_dup3: return dup3((int)a, (int)b, (int)c);
    case SYS_fcntl: return fcntl((int)a, (int)b, c);
    case SYS_renameat: return renameat((int)a, s2, (int)c, (const char *)d);
#ifdef SYS_renameat2
    case SYS_renameat2: return renameat2((int)a, s2, (int)c, (const char *)d, (unsigned)e);
#endif
    case SYS_unlinkat: return unlinkat((int)a, s2, (int)c);
    case SYS_mkdirat: return mkdirat((int)a, s2, (mode_t)c);
    case SYS_mknodat: return mknodat((int)a, s2, (mode_t)c, (dev_t)d);
    case SYS_linkat: return linkat((int)a, s2, (int)c, (const char *)d, (int)e);
    case SYS_symlinkat: return symlinkat(s1, (int)b, (const char *)c);
    case SYS_sendfile: return sendfile64((int)a, (int)b, (off64_t *)c, (size_t)d);
#ifdef SYS_copy_file_range
    case SYS_copy_file_range: return copy_file_range((int)a, (off64_t *)b, (int)c, (off64_t *)d, (size_t)e, (unsigned)f);
#endif
#ifdef SYS_open
    case SYS_open: return open(s1, (int)b, (mode_t)c);
    case SYS_creat: return creat(s1, (mode_t)b);
    case SYS_rename: return rename(s1, s2);
    case SYS_unlink: return unlink(s1);
    case SYS_rmdir: return rmdir(s1);
    case SYS_mkdir: return mkdir(s1, (mode_t)b);
    case SYS_mknod: return mknod(s1, (mode_t)b, (dev_t)c);
    case SYS_link: return link(s1, s2);
    case SYS_symlink: return symlink(s1, s2);
    case SYS_dup2: return dup2((int)a, (int)b);
#endif
#ifdef SYS_io_uring_setup
    case SYS_io_uring_setup:
      if (mine()) {
        errno = ENOSYS; /* io_uring writes would bypass us: make the program fall back */
        return -1;
      }
      break;
#endif
    }
  }
#endif
  return REAL(syscall)(n, a, b, c, d, e, f);
}

/* ---------------------------------------------------------------- start */

static void fork_prepare(void) { pthread_mutex_lock(&mu); }
static void fork_parent(void) { pthread_mutex_unlock(&mu); }
static void fork_child(void) {
  pthread_mutex_init(&mu, NULL);
  owner = getpid(); /* records from here on, through its own open of the trace */
}

/* A bad WALCHECK_FS_FAULT or WALCHECK_FAULT_DIR: the process stops before it does anything. */
static void bad_fault(const char *what, const char *value) {
  complain(what, value);
  _exit(2);
}

__attribute__((constructor)) static void recorder_start(void) {
  const char *trace = getenv("WALCHECK_POWER_TRACE"), *dir = getenv("WALCHECK_POWER_DIR");
  const char *spec = getenv("WALCHECK_FS_FAULT"), *fdir = getenv("WALCHECK_FAULT_DIR");
  const char *crash = getenv("WALCHECK_FS_CRASH"), *ctrace = getenv("WALCHECK_FS_TRACE");
  int rec = trace && dir && *trace && *dir, faults = spec && fdir && *spec && *fdir;
  int crashes = fdir && *fdir && ((crash && *crash) || (ctrace && *ctrace));
  if (!rec && !faults && !crashes) return;
  if (faults || crashes) {
    if (fdir[0] != '/' || !abs_path(AT_FDCWD, fdir, fault_root)) bad_fault("WALCHECK_FAULT_DIR must be an absolute path", fdir);
    fault_root_len = strlen(fault_root);
  }
  if (crashes) {
    if (crash && *crash && !parse_crash(crash))
      bad_fault("WALCHECK_FS_CRASH must be <k>:<before|after|mid> with k >= 1", crash);
    if (ctrace && *ctrace && (ctrace[0] != '/' || !abs_path(AT_FDCWD, ctrace, crash_trace)))
      bad_fault("WALCHECK_FS_TRACE must be an absolute path", ctrace);
    crash_on = 1;
  }
  if (faults) {
    if (!parse_fault(spec))
      bad_fault("WALCHECK_FS_FAULT must be enospc:<bytes>, erofs, eacces-dir, eacces-files, eio-fsync:<n> or slow-fsync:<ms> "
                "(bytes >= 0, n >= 1, 1 <= ms < 2^31), optionally followed by ,release=<absolute path>, "
                "or eio-read:<offset>:<length>:<absolute path> (length >= 1)",
                spec);
  }
  if (rec) {
    if (!abs_path(AT_FDCWD, dir, root) || !abs_path(AT_FDCWD, trace, trace_path)) trace_lost("a path too long");
  } else {
    memcpy(root, fault_root, fault_root_len + 1);
  }
  root_len = strlen(root);
  if ((faults || crashes) && root_len > 1 && (strncmp(fault_root, root, root_len) != 0 || (fault_root[root_len] != 0 && fault_root[root_len] != '/')))
    bad_fault("WALCHECK_FAULT_DIR must be at or under WALCHECK_POWER_DIR", fdir);
  struct stat st;
  if (stat(root, &st) == 0) {
    root_dev = st.st_dev;
    root_dev_known = 1;
  }
  if (rec) {
    recording = 1;
    trace_open();
  }
  owner = getpid();
  answers_start();
  stacks_start();
  pthread_atfork(fork_prepare, fork_parent, fork_child);
  __atomic_store_n(&active, 1, __ATOMIC_RELEASE);
}

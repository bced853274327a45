//! A walcheck adapter in Rust, standard library only (no crates: the JSON is done by hand).
//!
//!     cargo build --release --offline --manifest-path examples/rust/Cargo.toml
//!     npx walcheck run --adapter-cmd "examples/rust/target/release/walcheck-example-wal"
//!
//! On disk, <dir>/wal.log is a run of records, each
//!
//!     length  u32 little-endian   bytes of the payload (never 0)
//!     crc     u32 little-endian   CRC-32 of the 4 length bytes followed by the payload
//!     payload                     UTF-8 JSON {"seq":n,"ops":[{"key":k,"value":v|null}]}
//!
//! The CRC covers the length, so a run of zeros (a preallocated or half-written block) is not a
//! valid record: the CRC-32 of four zero bytes is 0x2144DF1C, not 0.
//!
//! Where a WAL usually goes wrong, and what this one does:
//! - ack before fsync: every append is written and fsynced (`sync_all`) before its answer;
//! - a new file's name is lost in a power cut: the directory is fsynced after the log is created;
//! - a torn tail is "repaired" by appending after it: recovery truncates it (and fsyncs) first;
//! - corruption in the middle is mistaken for a torn tail, and acked records after it are cut:
//!   when a damaged record is followed by any valid record, open refuses with WAL_CORRUPT;
//! - two processes append to one log: an exclusive flock(2) on <dir>/LOCK, which the kernel
//!   drops when the holder dies (a lock file made with `create_new` would outlive a SIGKILL);
//! - acking after a failed write: once an append fails, every later append is refused.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, Read, Write};
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::time::Instant;

// ---------------------------------------------------------------------------------------------
// JSON: just enough for the protocol's messages.

#[derive(Clone, Debug, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }
    fn as_u64(&self) -> Option<u64> {
        match self {
            Json::Num(n) if *n >= 0.0 && n.fract() == 0.0 && *n < 9007199254740992.0 => Some(*n as u64),
            _ => None,
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

fn parse_json(text: &str) -> Result<Json, String> {
    let mut p = Parser { s: text.as_bytes(), i: 0 };
    let v = p.value(0)?;
    p.ws();
    if p.i != p.s.len() {
        return Err(format!("trailing characters at {}", p.i));
    }
    Ok(v)
}

impl<'a> Parser<'a> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected '{}' at {}", c as char, self.i))
        }
    }
    fn literal(&mut self, word: &str, v: Json) -> Result<Json, String> {
        if self.s[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(format!("bad literal at {}", self.i))
        }
    }
    fn value(&mut self, depth: usize) -> Result<Json, String> {
        if depth > 64 {
            return Err("nested too deep".into());
        }
        self.ws();
        match self.peek() {
            Some(b'n') => self.literal("null", Json::Null),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Ok(Json::Arr(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Json::Arr(items));
                        }
                        _ => return Err(format!("expected ',' or ']' at {}", self.i)),
                    }
                }
            }
            Some(b'{') => {
                self.i += 1;
                let mut fields = Vec::new();
                self.ws();
                if self.peek() == Some(b'}') {
                    self.i += 1;
                    return Ok(Json::Obj(fields));
                }
                loop {
                    self.ws();
                    let k = self.string()?;
                    self.ws();
                    self.expect(b':')?;
                    let v = self.value(depth + 1)?;
                    fields.push((k, v));
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Json::Obj(fields));
                        }
                        _ => return Err(format!("expected ',' or '}}' at {}", self.i)),
                    }
                }
            }
            Some(c) if c == b'-' || c.is_ascii_digit() => {
                let start = self.i;
                while self.i < self.s.len() && matches!(self.s[self.i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') {
                    self.i += 1;
                }
                let text = std::str::from_utf8(&self.s[start..self.i]).unwrap();
                text.parse::<f64>().map(Json::Num).map_err(|_| format!("bad number at {}", start))
            }
            _ => Err(format!("unexpected character at {}", self.i)),
        }
    }
    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self.s.get(self.i..self.i + 4).ok_or("short \\u escape")?;
        let text = std::str::from_utf8(digits).map_err(|_| "bad \\u escape")?;
        let n = u32::from_str_radix(text, 16).map_err(|_| format!("bad \\u escape at {}", self.i))?;
        self.i += 4;
        Ok(n)
    }
    fn string(&mut self) -> Result<String, String> {
        self.expect(b'"')?;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let c = self.peek().ok_or("unterminated string")?;
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let e = self.peek().ok_or("unterminated escape")?;
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                // A high surrogate must be followed by \u and a low surrogate.
                                if self.s.get(self.i..self.i + 2) != Some(b"\\u") {
                                    return Err("lone high surrogate".into());
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err("bad low surrogate".into());
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else if (0xDC00..0xE000).contains(&hi) {
                                return Err("lone low surrogate".into());
                            } else {
                                hi
                            };
                            char::from_u32(code).ok_or("bad code point")?
                        }
                        _ => return Err(format!("bad escape at {}", self.i - 1)),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                c if c < 0x20 => return Err("control character in string".into()),
                c => out.push(c), // raw UTF-8 bytes, copied whole (the input is a &str)
            }
        }
        String::from_utf8(out).map_err(|_| "invalid UTF-8 in string".into())
    }
}

fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_json(out: &mut String, v: &Json) {
    match v {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Num(n) if n.fract() == 0.0 && n.abs() < 9007199254740992.0 => out.push_str(&format!("{}", *n as i64)),
        Json::Num(n) => out.push_str(&format!("{}", n)),
        Json::Str(s) => write_str(out, s),
        Json::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, item);
            }
            out.push(']');
        }
        Json::Obj(fields) => {
            out.push('{');
            for (i, (k, item)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, k);
                out.push(':');
                write_json(out, item);
            }
            out.push('}');
        }
    }
}

fn to_json(v: &Json) -> String {
    let mut out = String::new();
    write_json(&mut out, v);
    out
}

fn obj(fields: Vec<(&str, Json)>) -> Json {
    Json::Obj(fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

// ---------------------------------------------------------------------------------------------
// CRC-32 (IEEE, as zlib), table-driven.

fn crc32(parts: &[&[u8]]) -> u32 {
    static mut TABLE: [u32; 256] = [0; 256];
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        for n in 0..256u32 {
            let mut c = n;
            for _ in 0..8 {
                c = if c & 1 != 0 { 0xEDB88320 ^ (c >> 1) } else { c >> 1 };
            }
            unsafe { TABLE[n as usize] = c };
        }
    });
    let table = unsafe { &*std::ptr::addr_of!(TABLE) };
    let mut c = 0xFFFF_FFFFu32;
    for part in parts {
        for &b in part.iter() {
            c = table[((c ^ b as u32) & 0xFF) as usize] ^ (c >> 8);
        }
    }
    c ^ 0xFFFF_FFFF
}

// ---------------------------------------------------------------------------------------------
// The WAL.

const HEADER: usize = 8;

struct WalError {
    code: String,
    message: String,
}

fn err(code: &str, message: String) -> WalError {
    WalError { code: code.to_string(), message }
}

impl From<io::Error> for WalError {
    fn from(e: io::Error) -> Self {
        let code = match e.raw_os_error() {
            Some(2) => "ENOENT",
            Some(13) => "EACCES",
            Some(17) => "EEXIST",
            Some(28) => "ENOSPC",
            Some(30) => "EROFS",
            _ => "EIO",
        };
        err(code, e.to_string())
    }
}

extern "C" {
    // flock(2) is not in std, but libc is linked into every Rust program on Unix anyway.
    fn flock(fd: i32, operation: i32) -> i32;
}
const LOCK_EX: i32 = 2;
const LOCK_NB: i32 = 4;

#[derive(Default)]
struct Wal {
    state: BTreeMap<String, String>,
    last_seq: u64,
    log: Option<File>,
    lock: Option<File>,
    failed: bool,
}

fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The payload of a valid record at `off`, or None.
fn record_at(data: &[u8], off: usize) -> Option<&[u8]> {
    let header = data.get(off..off + HEADER)?;
    let length = u32::from_le_bytes(header[0..4].try_into().unwrap()) as usize;
    let crc = u32::from_le_bytes(header[4..8].try_into().unwrap());
    let payload = data.get(off + HEADER..off + HEADER + length)?;
    if length == 0 || crc32(&[&header[0..4], payload]) != crc {
        return None;
    }
    Some(payload)
}

type Op = (String, Option<String>);

fn parse_ops(v: &Json) -> Result<Vec<Op>, WalError> {
    let bad = || err("EINVAL", "ops must be a non-empty array of {key, value}".into());
    let Json::Arr(items) = v else { return Err(bad()) };
    if items.is_empty() {
        return Err(bad());
    }
    items
        .iter()
        .map(|op| {
            let key = op.get("key").and_then(Json::as_str).filter(|k| !k.is_empty()).ok_or_else(bad)?;
            let value = match op.get("value") {
                Some(Json::Null) => None,
                Some(Json::Str(s)) => Some(s.clone()),
                _ => return Err(bad()),
            };
            Ok((key.to_string(), value))
        })
        .collect()
}

fn ops_json(ops: &[Op]) -> Json {
    Json::Arr(
        ops.iter()
            .map(|(k, v)| obj(vec![("key", Json::Str(k.clone())), ("value", v.clone().map_or(Json::Null, Json::Str))]))
            .collect(),
    )
}

impl Wal {
    fn apply(&mut self, ops: &[Op]) {
        for (k, v) in ops {
            match v {
                Some(v) => self.state.insert(k.clone(), v.clone()),
                None => self.state.remove(k),
            };
        }
    }

    /// Replay the valid records; return the length of the good prefix.
    fn recover(&mut self, data: &[u8]) -> Result<usize, WalError> {
        let mut off = 0;
        while let Some(payload) = record_at(data, off) {
            let rec = parse_json(std::str::from_utf8(payload).map_err(|e| err("WAL_CORRUPT", e.to_string()))?)
                .map_err(|e| err("WAL_CORRUPT", format!("record at byte {}: {}", off, e)))?;
            let seq = rec.get("seq").and_then(Json::as_u64);
            if seq != Some(self.last_seq + 1) {
                return Err(err("WAL_CORRUPT", format!("record at byte {} has seq {:?}, expected {}", off, seq, self.last_seq + 1)));
            }
            let ops = parse_ops(rec.get("ops").unwrap_or(&Json::Null))?;
            self.apply(&ops);
            self.last_seq += 1;
            off += HEADER + payload.len();
        }
        // The bytes from `off` on are damaged. If a valid record follows anywhere after them, this
        // is rot in the middle of the log, not a torn write: cutting here would drop acked batches.
        // (A byte-by-byte scan is slow on a big log, but it runs only when there is damage.)
        for later in off + 1..data.len().saturating_sub(HEADER) {
            if record_at(data, later).is_some() {
                return Err(err("WAL_CORRUPT", format!("damaged record at byte {} of wal.log, valid records after it", off)));
            }
        }
        Ok(off)
    }

    fn open(&mut self, dir: &str) -> Result<Json, WalError> {
        let started = Instant::now();
        let dir = Path::new(dir);
        fs::create_dir_all(dir)?;
        let lock = OpenOptions::new().create(true).append(true).open(dir.join("LOCK"))?;
        if unsafe { flock(lock.as_raw_fd(), LOCK_EX | LOCK_NB) } != 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::WouldBlock {
                return Err(err("WAL_LOCKED", format!("{} is open in another process", dir.display())));
            }
            return Err(e.into());
        }
        self.lock = Some(lock); // held until close; the kernel drops it if we die
        let path = dir.join("wal.log");
        let mut data = Vec::new();
        match File::open(&path) {
            Ok(mut f) => {
                f.read_to_end(&mut data)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        let good = self.recover(&data)?;
        let log = OpenOptions::new().create(true).append(true).open(&path)?;
        if good < data.len() {
            log.set_len(good as u64)?; // cut the torn tail before anything is appended after it
            log.sync_all()?;
        }
        fsync_dir(dir)?; // the names LOCK and wal.log are durable too
        self.log = Some(log);
        let recovery = obj(vec![
            ("elapsedMs", Json::Num(started.elapsed().as_secs_f64() * 1000.0)),
            ("recordsReplayed", Json::Num(self.last_seq as f64)),
            ("bytesDiscarded", Json::Num((data.len() - good) as f64)),
        ]);
        Ok(obj(vec![("lastSeq", Json::Num(self.last_seq as f64)), ("recovery", recovery)]))
    }

    fn append(&mut self, ops: Vec<Op>) -> Result<Json, WalError> {
        if self.failed {
            return Err(err("EIO", "an earlier append failed; reopen to recover".into()));
        }
        let log = self.log.as_mut().ok_or_else(|| err("EINVAL", "not open".into()))?;
        let seq = self.last_seq + 1;
        let payload = to_json(&obj(vec![("seq", Json::Num(seq as f64)), ("ops", ops_json(&ops))]));
        let length = (payload.len() as u32).to_le_bytes();
        let mut record = Vec::with_capacity(HEADER + payload.len());
        record.extend_from_slice(&length);
        record.extend_from_slice(&crc32(&[&length, payload.as_bytes()]).to_le_bytes());
        record.extend_from_slice(payload.as_bytes());
        // After a failed write or fsync the kernel may have dropped the data: a later fsync
        // cannot bring it back, so nothing after this append may be acknowledged.
        if let Err(e) = log.write_all(&record).and_then(|_| log.sync_all()) {
            self.failed = true;
            return Err(e.into());
        }
        self.last_seq = seq;
        self.apply(&ops);
        Ok(obj(vec![("seq", Json::Num(seq as f64))]))
    }

    fn handle(&mut self, op: &str, req: &Json) -> Result<Json, WalError> {
        match op {
            "hello" => Ok(obj(vec![
                ("name", Json::Str("rust-wal".into())),
                ("protocol", Json::Num(1.0)),
                ("durability", Json::Str("power".into())),
                ("features", Json::Arr(vec![Json::Str("checksums".into()), Json::Str("recovery-stats".into())])),
            ])),
            "open" => {
                let dir = req.get("dir").and_then(Json::as_str).ok_or_else(|| err("EINVAL", "open needs dir".into()))?;
                self.open(dir)
            }
            "append" => self.append(parse_ops(req.get("ops").unwrap_or(&Json::Null))?),
            "read" => {
                let state = Json::Obj(self.state.iter().map(|(k, v)| (k.clone(), Json::Str(v.clone()))).collect());
                Ok(obj(vec![("lastSeq", Json::Num(self.last_seq as f64)), ("state", state)]))
            }
            "close" => {
                self.log = None;
                self.lock = None; // closing the fd releases the flock
                Ok(obj(vec![]))
            }
            _ => Err(err("EUNSUPPORTED", format!("no op {}", op))),
        }
    }
}

fn main() {
    let mut wal = Wal::default();
    let stdin = io::stdin();
    let mut stdout = io::stdout();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        let req = match parse_json(&line) {
            Ok(req) => req,
            Err(e) => {
                eprintln!("not a JSON request: {}: {}", e, line);
                std::process::exit(2);
            }
        };
        let id = req.get("id").cloned().unwrap_or(Json::Null);
        let op = req.get("op").and_then(Json::as_str).unwrap_or("").to_string();
        let mut reply = vec![("id".to_string(), id)];
        match wal.handle(&op, &req) {
            Ok(Json::Obj(fields)) => {
                reply.push(("ok".into(), Json::Bool(true)));
                reply.extend(fields);
            }
            Ok(_) => unreachable!(),
            Err(e) => {
                reply.push(("ok".into(), Json::Bool(false)));
                let error = obj(vec![("code", Json::Str(e.code)), ("message", Json::Str(e.message))]);
                reply.push(("error".into(), error));
            }
        }
        let mut out = to_json(&Json::Obj(reply));
        out.push('\n');
        if stdout.write_all(out.as_bytes()).and_then(|_| stdout.flush()).is_err() {
            std::process::exit(1);
        }
        if op == "close" {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trips_escapes_and_surrogates() {
        let v = parse_json(r#"{"a":"q\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00 é😀","n":null,"x":[1,-2,{}]}"#).unwrap();
        assert_eq!(v.get("a").and_then(Json::as_str), Some("q\"\\/\u{8}\u{c}\n\r\té😀 é😀"));
        assert_eq!(parse_json(&to_json(&v)).unwrap(), v);
        assert!(parse_json(r#""\ud83d""#).is_err());
        assert!(parse_json(r#""\ude00""#).is_err());
    }

    #[test]
    fn zeros_are_not_a_record() {
        assert_eq!(crc32(&[&[0, 0, 0, 0]]), 0x2144DF1C);
        assert!(record_at(&[0u8; 64], 0).is_none());
    }
}

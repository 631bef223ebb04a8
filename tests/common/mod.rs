//! Shared helpers for the integration tests: C-ABI calls wrapped just enough to assert on.
#![allow(dead_code)]

use std::ffi::{c_char, CStr, CString};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::ptr;
use std::sync::OnceLock;

use serde_json::Value;
use ustb_openai::emulator::{Config, Emulator};
use ustb_openai::ffi::*;

pub const LOGIN: &str = "test-login-token";

pub fn emulator() -> Emulator {
    emulator_with(Config::default())
}

pub fn emulator_with(config: Config) -> Emulator {
    emulator_at(config, "127.0.0.1:0")
}

pub fn emulator_at(config: Config, addr: &str) -> Emulator {
    Emulator::start(config, addr).expect("emulator starts")
}

/// A base URL nothing listens on (the port was free a moment ago).
pub fn closed_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

/// An owned `ustb_client`, freed on drop.
pub struct Client(pub *mut ustb_client);

unsafe impl Send for Client {}
unsafe impl Sync for Client {}

impl Drop for Client {
    fn drop(&mut self) {
        unsafe { ustb_client_free(self.0) };
    }
}

/// What a failed call reported.
#[derive(Debug, Clone)]
pub struct Failure {
    pub status: ustb_status,
    pub message: String,
    pub detail: Value,
    pub api_code: i64,
    pub http_status: u16,
}

/// Turns a status and the error it came with into a Result, freeing the error.
pub fn check(status: ustb_status, err: *mut ustb_error) -> Result<ustb_status, Failure> {
    let ok = matches!(status, ustb_status::USTB_OK | ustb_status::USTB_END_OF_STREAM | ustb_status::USTB_STOPPED);
    if ok {
        assert!(err.is_null(), "a successful call must leave *error NULL");
        return Ok(status);
    }
    assert!(!err.is_null(), "a failed call ({status:?}) must hand out an error");
    unsafe {
        assert_eq!(ustb_error_status(err), status);
        let f = Failure {
            status,
            message: CStr::from_ptr(ustb_error_message(err)).to_str().unwrap().to_string(),
            detail: serde_json::from_str(CStr::from_ptr(ustb_error_detail(err)).to_str().unwrap()).unwrap(),
            api_code: ustb_error_api_code(err),
            http_status: ustb_error_http_status(err),
        };
        ustb_error_free(err);
        assert!(!f.message.is_empty());
        Err(f)
    }
}

/// A canceller from `ustb_canceller_new`, freed on drop.
pub struct Canceller(pub *mut ustb_canceller);

unsafe impl Send for Canceller {}
unsafe impl Sync for Canceller {}

impl Canceller {
    pub fn new() -> Canceller {
        let (mut c, mut err) = (ptr::null_mut(), ptr::null_mut());
        check(unsafe { ustb_canceller_new(&mut c, &mut err) }, err).unwrap();
        Canceller(c)
    }

    /// The handle (a method, so threads capture the whole `Canceller`, which is `Sync`).
    pub fn ptr(&self) -> *const ustb_canceller {
        self.0
    }
}

impl Drop for Canceller {
    fn drop(&mut self) {
        unsafe { ustb_canceller_free(self.0) };
    }
}

/// No canceller: the call is bounded by the timeouts only.
pub const NONE: *const ustb_canceller = ptr::null();

pub fn cstring(s: &str) -> CString {
    CString::new(s).unwrap()
}

pub fn client(options: &Value) -> Result<Client, Failure> {
    let opts = cstring(&options.to_string());
    let mut c = ptr::null_mut();
    let mut err = ptr::null_mut();
    let st = unsafe { ustb_client_new(opts.as_ptr(), &mut c, &mut err) };
    check(st, err)?;
    assert!(!c.is_null());
    Ok(Client(c))
}

/// A logged-in client of `emu`.
pub fn login_client(emu: &Emulator) -> Client {
    client(&serde_json::json!({ "base_url": emu.base_url(), "vjuid_login": LOGIN, "max_retries": 0 })).unwrap()
}

pub fn user(text: &str) -> Value {
    serde_json::json!({ "model": "deepseek-r1", "messages": [{ "role": "user", "content": text }] })
}

pub unsafe fn take_string(p: *mut c_char) -> String {
    assert!(!p.is_null());
    let s = CStr::from_ptr(p).to_str().unwrap().to_string();
    ustb_string_free(p);
    s
}

/// An owned `ustb_chat_stream`, freed on drop.
pub struct Stream(pub *mut ustb_chat_stream);

unsafe impl Send for Stream {}
unsafe impl Sync for Stream {}

impl Drop for Stream {
    fn drop(&mut self) {
        unsafe { ustb_chat_stream_free(self.0) };
    }
}

pub fn open(c: &Client, request: &Value) -> Result<Stream, Failure> {
    let req = cstring(&request.to_string());
    let mut s = ptr::null_mut();
    let mut err = ptr::null_mut();
    let st = unsafe { ustb_chat_stream_open(c.0, req.as_ptr(), &mut s, &mut err) };
    check(st, err)?;
    Ok(Stream(s))
}

/// The next chunk, None at the end.
pub fn next(s: &Stream) -> Result<Option<Value>, Failure> {
    let mut chunk = ptr::null_mut();
    let mut len = 0usize;
    let mut err = ptr::null_mut();
    let st = unsafe { ustb_chat_stream_next(s.0, &mut chunk, &mut len, &mut err) };
    match check(st, err)? {
        ustb_status::USTB_END_OF_STREAM => {
            assert!(chunk.is_null());
            Ok(None)
        }
        _ => {
            let text = unsafe { take_string(chunk) };
            assert_eq!(text.len(), len, "len_out is the chunk's byte length");
            Ok(Some(serde_json::from_str(&text).expect("chunks are JSON")))
        }
    }
}

/// Every chunk of a stream, or the failure that ended it (with the chunks before it).
pub fn drain(s: &Stream) -> (Vec<Value>, Option<Failure>) {
    let mut chunks = Vec::new();
    loop {
        match next(s) {
            Ok(Some(c)) => chunks.push(c),
            Ok(None) => return (chunks, None),
            Err(f) => return (chunks, Some(f)),
        }
    }
}

/// Concatenated reasoning, content, and the finish_reason of a list of chunks.
pub fn texts(chunks: &[Value]) -> (String, String, Option<String>) {
    let (mut r, mut c, mut f) = (String::new(), String::new(), None);
    for ch in chunks {
        for choice in ch["choices"].as_array().unwrap() {
            r.push_str(choice["delta"]["reasoning_content"].as_str().unwrap_or(""));
            c.push_str(choice["delta"]["content"].as_str().unwrap_or(""));
            if let Some(reason) = choice["finish_reason"].as_str() {
                f = Some(reason.to_string());
            }
        }
    }
    (r, c, f)
}

/// A whole streamed reply; panics on failure.
pub fn stream_all(c: &Client, request: &Value) -> Vec<Value> {
    let s = open(c, request).unwrap();
    let (chunks, failure) = drain(&s);
    assert!(failure.is_none(), "stream failed: {failure:?}");
    chunks
}

/// The failure a streamed reply ends with; panics if it succeeds.
pub fn stream_failure(c: &Client, request: &Value) -> Failure {
    let s = open(c, request).unwrap();
    drain(&s).1.expect("the stream should fail")
}

pub fn create(c: &Client, request: &Value) -> Result<Value, Failure> {
    let req = cstring(&request.to_string());
    let mut out = ptr::null_mut();
    let mut err = ptr::null_mut();
    let st = unsafe { ustb_chat_create(c.0, req.as_ptr(), &mut out, &mut err) };
    if let Err(f) = check(st, err) {
        assert!(out.is_null());
        return Err(f);
    }
    Ok(serde_json::from_str(&unsafe { take_string(out) }).unwrap())
}

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// target/debug (or whatever profile dir holds this test binary).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

/// Builds the cdylib and the emulator once (`cargo test` builds only the rlib), gives the
/// library its soname link, and returns the directory holding both.
pub fn library() -> &'static PathBuf {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--lib", "--bin", "ustb-emulator", "--features", "emulator"])
            .current_dir(root())
            .status()
            .expect("cargo runs");
        assert!(status.success(), "cargo build of the library failed");
        let dir = target_dir();
        let link = dir.join("libustb_openai.so.0");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink("libustb_openai.so", &link).unwrap();
        dir
    })
}

/// Runs a command; a missing tool fails the test (it is never skipped).
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (is the tool installed?)"))
}

pub fn assert_ok(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Compiles `sources` into `name` in the target dir, linked to the shared library, with
/// warnings as errors: C as C99, C++ as C++17.
pub fn compile(cpp: bool, name: &str, sources: &[&str]) -> PathBuf {
    compile_with(cpp, name, sources, &[])
}

/// `compile` with extra compiler flags (e.g. sanitizers). Relative sources are under the root.
pub fn compile_with(cpp: bool, name: &str, sources: &[&str], flags: &[&str]) -> PathBuf {
    let dir = library();
    let exe = dir.join(name);
    let (compiler, std) = if cpp { ("c++", "-std=c++17") } else { ("cc", "-std=c99") };
    let out = run(Command::new(compiler)
        .args([std, "-Wall", "-Wextra", "-Werror", "-g"])
        .args(flags)
        .arg(format!("-I{}", root().join("include").display()))
        .args(sources.iter().map(|s| root().join(s)))
        .arg(format!("-L{}", dir.display()))
        .arg(format!("-Wl,-rpath,{}", dir.display()))
        .args(["-lustb_openai", "-lpthread", "-o"])
        .arg(&exe));
    assert_ok(&format!("compiling {name}"), &out);
    exe
}

/// Runs `exe ARGS` (under `prefix`, e.g. valgrind) with a time bound: a hang fails the test instead of stalling the suite.
pub fn run_bounded(prefix: &[&str], exe: &std::path::Path, args: &[&str], env: &[(&str, &str)], limit: u64) -> Output {
    let mut cmd = Command::new("timeout");
    cmd.args(["-s", "KILL", &limit.to_string()]).args(prefix).arg(exe).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(&mut cmd)
}

pub const VALGRIND: &[&str] =
    &["valgrind", "--quiet", "--error-exitcode=9", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect"];
pub const SANITIZE: &[&str] =
    &["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=undefined"];
pub const ASAN_ENV: &[(&str, &str)] = &[
    ("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=9"),
    ("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1"),
    // Leaks inside the Rust runtime's one-time statics are not ours to report.
    ("LSAN_OPTIONS", "report_objects=1"),
];

/// An owned `ustb_login`, freed on drop.
pub struct Login(pub *mut ustb_login);

unsafe impl Send for Login {}
unsafe impl Sync for Login {}

impl Drop for Login {
    fn drop(&mut self) {
        unsafe { ustb_login_free(self.0) };
    }
}

/// The emulator as a child process, and the URL it printed.
pub struct EmulatorProcess {
    child: Child,
    pub url: String,
}

impl EmulatorProcess {
    pub fn start() -> EmulatorProcess {
        EmulatorProcess::start_with(&["--delay-ms", "5"])
    }

    pub fn start_with(args: &[&str]) -> EmulatorProcess {
        library();
        let mut child = Command::new(env!("CARGO_BIN_EXE_ustb-emulator"))
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("emulator starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line.trim().strip_prefix("ustb-emulator listening on ").expect("address line").to_string();
        EmulatorProcess { child, url }
    }
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// splitmix64: a deterministic PRNG for randomized tests, so a failure names a seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// `below` for lengths and indices.
    pub fn index(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The records of a capture file (see `record` in README), one JSON value per line.
pub fn capture_records(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// A server that answers each request with the next unused record of the same method and path:
/// the recorded status and headers, then a write per recorded read (chunked, unless the record
/// had a Content-Length), then the recorded end (a clean end, a broken chunk for a framing
/// error, else a closed connection). Returns its base URL; it serves until the test ends.
pub fn replay_server(records: Vec<Value>) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let records = std::sync::Mutex::new(records.into_iter().map(Some).collect::<Vec<_>>());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let (mut head, mut line) = (Vec::new(), String::new());
            while reader.read_line(&mut line).unwrap_or(0) > 2 {
                head.push(std::mem::take(&mut line));
            }
            let Some(first) = head.first() else { continue };
            let mut words = first.split_whitespace();
            let (method, path) = (words.next().unwrap_or("").to_string(), words.next().unwrap_or("").to_string());
            let length = head
                .iter()
                .find_map(|h| {
                    h.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0usize);
            let _ = reader.by_ref().take(length as u64).read_to_end(&mut Vec::new());
            let record = {
                let mut all = records.lock().unwrap();
                let found = all.iter_mut().find(|r| {
                    r.as_ref().is_some_and(|r| {
                        r["request"]["method"] == method.as_str() && r["request"]["path"] == path.as_str()
                    })
                });
                found.and_then(Option::take)
            };
            let Some(record) = record else { continue };
            let Some(status) = record["status"].as_u64() else { continue }; // closed before the headers
            let headers: Vec<(String, String)> = record["headers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| (h[0].as_str().unwrap().to_string(), h[1].as_str().unwrap().to_string()))
                .collect();
            let sized = headers.iter().any(|(k, _)| k == "content-length");
            let mut out = format!("HTTP/1.1 {status} Replayed\r\n");
            for (k, v) in &headers {
                if !["transfer-encoding", "connection"].contains(&k.as_str()) {
                    out.push_str(&format!("{k}: {v}\r\n"));
                }
            }
            out.push_str(if sized {
                "connection: close\r\n\r\n"
            } else {
                "transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
            });
            let _ = conn.write_all(out.as_bytes());
            let mut last = 0u64;
            for read in record["reads"].as_array().unwrap() {
                use base64::Engine;
                let bytes = base64::engine::general_purpose::STANDARD.decode(read["b64"].as_str().unwrap()).unwrap();
                let at = read["at_ms"].as_u64().unwrap();
                std::thread::sleep(std::time::Duration::from_millis(at.saturating_sub(last).min(20)));
                last = at;
                let _ = conn.flush();
                if sized {
                    let _ = conn.write_all(&bytes);
                } else {
                    let _ = conn.write_all(format!("{:x}\r\n", bytes.len()).as_bytes());
                    let _ = conn.write_all(&bytes);
                    let _ = conn.write_all(b"\r\n");
                }
            }
            match record["end"].as_str().unwrap() {
                "eof" if !sized => drop(conn.write_all(b"0\r\n\r\n")),
                "protocol_error" if !sized => drop(conn.write_all(b"zz\r\n")),
                _ => {}
            }
            let _ = conn.flush();
        }
    });
    base
}

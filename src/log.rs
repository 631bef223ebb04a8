//! Diagnostics: one process-wide log sink and the library's log events, one small function
//! each, so every message the library can log is written in this file.
//!
//! The sink is a callback (set through `ustb_set_log_callback`, or [`set_logger`] from Rust),
//! or, with no callback, standard error when the `USTB_LOG` environment variable names a level
//! (read once, on first use). Nothing is logged by default.
//!
//! Free when off: every event starts with [`enabled`], one relaxed atomic load, and formats
//! nothing unless the level passes (`format_args!` is lazy; the `String` is made in `emit`).
//! A chat stream's timing is not even measured when logging is off as the stream starts.
//!
//! What may appear: methods, paths (without the query), sizes, counts, timings, HTTP statuses,
//! envelope codes, error kinds, and the library's own messages for network failures (redacted
//! by the caller). Never cookie values, message content or server text.

use std::cell::Cell;
use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, RwLock};
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, Result};

/// How important a line is. `Error` is the least verbose, `Debug` the most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    /// A chat stream failed.
    Error = 1,
    /// A request attempt failed (and is retried), or a request failed.
    Warn = 2,
    /// One line per request and per chat stream (with its timings), cancels.
    Info = 3,
    /// Every attempt as it is sent.
    Debug = 4,
}

/// The level value that logs nothing.
const OFF: u8 = 0;

impl Level {
    pub fn from_u8(n: u8) -> Option<Level> {
        [Level::Error, Level::Warn, Level::Info, Level::Debug].into_iter().find(|l| *l as u8 == n)
    }

    pub fn name(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }
}

/// A log callback: the level and one line of text, on the thread that logs.
pub type Logger = Box<dyn Fn(Level, &str) + Send + Sync>;

/// A callback and its level. Callers hold an `Arc` of it while it runs, not a lock: a setter
/// waiting for an old sink's callbacks to return holds up no thread that logs to the new one.
struct Sink {
    logger: Logger,
    min: u8,
    calls: Mutex<Calls>,
    idle: Condvar,
}

#[derive(Default)]
struct Calls {
    running: usize,
    /// Replaced: no call may start any more.
    retired: bool,
}

impl Sink {
    /// Calls the logger unless the sink was replaced (false then).
    fn call(&self, level: Level, line: &str) -> bool {
        {
            let mut calls = lock(&self.calls);
            if calls.retired {
                return false;
            }
            calls.running += 1;
        }
        let _done = Done(self);
        IN_CALLBACK.set(true);
        let _reset = ResetOnDrop;
        (self.logger)(level, line);
        true
    }

    /// Stops new calls and waits for the running ones to return.
    fn retire(&self) {
        let mut calls = lock(&self.calls);
        calls.retired = true;
        while calls.running > 0 {
            calls = self.idle.wait(calls).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// Counts a call as returned (also when the logger panics).
struct Done<'a>(&'a Sink);

impl Drop for Done<'_> {
    fn drop(&mut self) {
        let mut calls = lock(&self.0.calls);
        calls.running -= 1;
        if calls.retired && calls.running == 0 {
            self.0.idle.notify_all();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The most verbose level that passes (`OFF`: nothing), or `UNKNOWN` until `USTB_LOG` was
/// read. A hint for the fast path only: `emit` decides under the lock.
static MAX: AtomicU8 = AtomicU8::new(UNKNOWN);
const UNKNOWN: u8 = u8::MAX;
/// Locked only to read or swap the sink, never while a callback runs.
static SINK: RwLock<Option<Arc<Sink>>> = RwLock::new(None);

thread_local! {
    /// Set while this thread runs the callback: its own logging is dropped, not recursed into.
    static IN_CALLBACK: Cell<bool> = const { Cell::new(false) };
}

/// Whether a line at `level` may be logged: one relaxed load (true once before `USTB_LOG`
/// was read, so the first event reads it).
#[inline(always)]
pub fn enabled(level: Level) -> bool {
    level as u8 <= MAX.load(Relaxed)
}

/// Logs a line, formatting it only if its level is enabled.
macro_rules! event {
    ($level:expr, $($arg:tt)*) => {
        if $crate::log::enabled($level) {
            $crate::log::emit($level, format_args!($($arg)*))
        }
    };
}

/// Sets the process-wide log callback (None: back to `USTB_LOG` and stderr). Lines above
/// `min` (None: every line) are not passed to it. Waits for calls of the old callback running
/// on other threads to return, so it is never called after this returns; meanwhile other
/// threads log to the new one. Fails when called from inside the callback (it would wait for
/// itself).
pub fn set_logger(logger: Option<Logger>, min: Option<Level>) -> Result<()> {
    if IN_CALLBACK.get() {
        return Err(Error::invalid_argument("the log callback cannot be changed from inside the log callback"));
    }
    let new = logger.map(|logger| {
        let min = min.map_or(OFF, |l| l as u8);
        Arc::new(Sink { logger, min, calls: Mutex::default(), idle: Condvar::new() })
    });
    let old = {
        let mut sink = SINK.write().unwrap_or_else(|p| p.into_inner());
        let old = std::mem::replace(&mut *sink, new);
        MAX.store(max_level(&sink), Relaxed);
        old
    };
    if let Some(old) = old {
        old.retire();
    }
    Ok(())
}

fn max_level(sink: &Option<Arc<Sink>>) -> u8 {
    sink.as_ref().map_or_else(env_level, |s| s.min)
}

/// `USTB_LOG`, read once. An unknown value logs nothing but says so once on stderr.
fn env_level() -> u8 {
    static ENV: OnceLock<u8> = OnceLock::new();
    *ENV.get_or_init(|| {
        let Some(value) = std::env::var_os("USTB_LOG") else { return OFF };
        let value = value.to_string_lossy().trim().to_ascii_lowercase();
        parse_env(&value).unwrap_or_else(|| {
            let shown: String = value.chars().take(20).collect();
            let _ = writeln!(
                std::io::stderr(),
                "ustb-openai: USTB_LOG={shown:?} is not one of error, warn, info, debug, off; nothing is logged"
            );
            OFF
        })
    })
}

fn parse_env(value: &str) -> Option<u8> {
    Some(match value {
        "" | "off" | "none" | "0" => OFF,
        "error" => Level::Error as u8,
        "warn" | "warning" => Level::Warn as u8,
        "info" => Level::Info as u8,
        "debug" | "trace" => Level::Debug as u8,
        _ => return None,
    })
}

/// The slow path: checks the level under the lock, formats the line and hands it on.
#[cold]
#[inline(never)]
pub fn emit(level: Level, args: fmt::Arguments<'_>) {
    if IN_CALLBACK.get() {
        return;
    }
    let mut line = None;
    loop {
        let sink = {
            let sink = SINK.read().unwrap_or_else(|p| p.into_inner());
            let max = max_level(&sink);
            // First use: settle the hint (a concurrent `set_logger` cannot run: it needs the lock).
            let _ = MAX.compare_exchange(UNKNOWN, max, Relaxed, Relaxed);
            if level as u8 > max {
                return;
            }
            sink.clone()
        };
        let line = line.get_or_insert_with(|| one_line(args.to_string()));
        match sink {
            // Not called: replaced since it was read, so the new sink gets the line.
            Some(s) if !s.call(level, line) => continue,
            Some(_) => {}
            None => {
                let _ = writeln!(std::io::stderr().lock(), "ustb-openai [{}] {line}", level.name());
            }
        }
        return;
    }
}

struct ResetOnDrop;

impl Drop for ResetOnDrop {
    fn drop(&mut self) {
        IN_CALLBACK.set(false);
    }
}

fn one_line(mut s: String) -> String {
    if s.contains(['\n', '\r', '\0']) {
        s = s.replace(['\n', '\r', '\0'], " ");
    }
    s
}

/// The path without its query (which a later endpoint might fill with identifiers).
fn path_only(path_and_query: &str) -> &str {
    path_and_query.split(['?', '#']).next().unwrap_or("")
}

/// Milliseconds with one decimal (a local reply takes well under one).
fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn plural(n: u64, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {one}s")
    }
}

// --- Request events (upstream/http.rs) ---

/// Debug: an attempt is being sent.
pub fn attempt(method: &str, path: &str, body_bytes: usize, attempt: u32, attempts: u32) {
    event!(
        Level::Debug,
        "{method} {}: sending attempt {attempt} of {attempts} (request body {body_bytes} bytes)",
        path_only(path)
    );
}

/// Info: the reply's headers arrived.
pub fn reply(
    method: &str,
    path: &str,
    body_bytes: usize,
    status: u16,
    content_type: &str,
    took: Duration,
    attempts: u32,
) {
    event!(
        Level::Info,
        "{method} {}: HTTP {status} ({}) after {} ms, {}, request body {body_bytes} bytes",
        path_only(path),
        media_kind(content_type),
        ms(took),
        plural(u64::from(attempts), "attempt")
    );
}

/// The kind of a reply's content type, not its text (which is the server's).
fn media_kind(content_type: &str) -> &'static str {
    let ct = content_type.to_ascii_lowercase();
    match () {
        _ if ct.contains("text/event-stream") => "text/event-stream",
        _ if ct.contains("json") => "JSON",
        _ if ct.contains("text/html") => "text/html",
        _ if ct.trim().is_empty() => "no content type",
        _ => "other content type",
    }
}

/// Warn: attempt `attempt` failed with `err` and is retried after `delay`. `redact` removes
/// cookie values from the error (only called when the line is logged).
pub fn retry(
    method: &str,
    path: &str,
    (attempt, attempts): (u32, u32),
    err: &Error,
    redact: impl FnOnce(Error) -> Error,
    delay: Duration,
) {
    if !enabled(Level::Warn) {
        return;
    }
    let err = redact(err.clone());
    event!(
        Level::Warn,
        "{method} {}: attempt {attempt} of {attempts} failed ({}: {}); retrying in {} ms",
        path_only(path),
        err.kind.name(),
        err.message,
        ms(delay)
    );
}

/// Warn (info for a cancel): the request gave up before a reply. `redact` as for `retry`.
pub fn request_failed(method: &str, path: &str, attempts: u32, err: &Error, redact: impl FnOnce(Error) -> Error) {
    let (path, tries) = (path_only(path), u64::from(attempts));
    if err.kind == ErrorKind::Cancelled {
        event!(Level::Info, "{method} {path}: cancelled before the reply ({})", plural(tries, "attempt"));
    } else if enabled(Level::Warn) {
        let err = redact(err.clone());
        let tries = plural(tries, "attempt");
        event!(Level::Warn, "{method} {path}: failed after {tries} ({}: {})", err.kind.name(), err.message);
    }
}

// --- Login events (login/) ---

/// Info: a login step succeeded (its name only: the step's values are secrets).
pub fn login_step(step: &str) {
    event!(Level::Info, "SSO login: {step} done");
}

// --- Chat stream events (chat/stream.rs) ---

/// Timing and counts of one chat stream, logged as one line when it ends. Inert (no clock is
/// read) when logging was off as the stream started.
#[derive(Default)]
pub struct StreamStats {
    start: Option<Instant>,
    first_byte: Option<Duration>,
    first_chunk: Option<Duration>,
    chunks: u64,
    bytes: u64,
    logged: bool,
}

impl StreamStats {
    /// The request is about to be sent.
    pub fn sending(&mut self) {
        if enabled(Level::Error) {
            self.start = Some(Instant::now());
        }
    }

    /// The reply's headers arrived.
    pub fn headers(&mut self) {
        if let Some(start) = self.start {
            self.first_byte = Some(start.elapsed());
        }
    }

    /// A chunk carrying `text_bytes` of content and reasoning was produced.
    pub fn chunk(&mut self, text_bytes: usize) {
        if let Some(start) = self.start {
            self.first_chunk.get_or_insert_with(|| start.elapsed());
            self.chunks += 1;
            self.bytes += text_bytes as u64;
        }
    }

    /// Info: the reply ended normally.
    pub fn ended(&mut self) {
        self.log(Level::Info, format_args!("ended normally"));
    }

    /// Info for a cancel, error otherwise. `err` is already redacted; only its kind and codes
    /// are logged (its message may quote the reply).
    pub fn failed(&mut self, err: &Error) {
        if self.start.is_none() {
            return;
        }
        if err.kind == ErrorKind::Cancelled {
            return self.log(Level::Info, format_args!("cancelled"));
        }
        let http = err.http_status.map(|s| format!(", HTTP {s}")).unwrap_or_default();
        let code = err.api_code.map(|e| format!(", e={e}")).unwrap_or_default();
        self.log(Level::Error, format_args!("failed ({}{http}{code})", err.kind.name()));
    }

    /// Info: the stream was freed before its end (e.g. a push callback stopped it).
    pub fn dropped(&mut self) {
        self.log(Level::Info, format_args!("closed by the caller before the end"));
    }

    fn log(&mut self, level: Level, how: fmt::Arguments<'_>) {
        let Some(start) = self.start else { return };
        if std::mem::replace(&mut self.logged, true) {
            return;
        }
        let at = |d: Option<Duration>| d.map_or("none".to_string(), |d| format!("{} ms", ms(d)));
        event!(
            level,
            "chat stream {how}: first byte {}, first chunk {}, {}, {} bytes of text, {} ms in all",
            at(self.first_byte),
            at(self.first_chunk),
            plural(self.chunks, "chunk"),
            self.bytes,
            ms(start.elapsed())
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::{Arc, Mutex};

    /// The sink is process-wide: these tests take turns.
    static TURN: Mutex<()> = Mutex::new(());

    /// Collects the lines logged on this thread (other tests may log at the same time).
    fn collect(min: Level) -> Arc<Mutex<Vec<(Level, String)>>> {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (sink, me) = (lines.clone(), std::thread::current().id());
        let logger: Logger = Box::new(move |l, s| {
            if std::thread::current().id() == me {
                sink.lock().unwrap().push((l, s.to_string()));
            }
        });
        set_logger(Some(logger), Some(min)).unwrap();
        lines
    }

    /// Counts how often it is formatted.
    struct Counted<'a>(&'a AtomicUsize);

    impl fmt::Display for Counted<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.0.fetch_add(1, Relaxed);
            f.write_str("x")
        }
    }

    #[test]
    fn nothing_is_formatted_below_the_level() {
        let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
        let lines = collect(Level::Warn);
        let formatted = AtomicUsize::new(0);
        event!(Level::Debug, "{}", Counted(&formatted));
        event!(Level::Info, "{}", Counted(&formatted));
        assert_eq!(formatted.load(Relaxed), 0, "a filtered line was formatted");
        event!(Level::Warn, "w {}", Counted(&formatted));
        assert_eq!(formatted.load(Relaxed), 1);
        set_logger(None, None).unwrap();
        assert_eq!(*lines.lock().unwrap(), vec![(Level::Warn, "w x".to_string())]);
    }

    #[test]
    fn lines_are_one_line_and_the_setter_refuses_reentry() {
        let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
        let refused = Arc::new(Mutex::new(None));
        let seen = refused.clone();
        let logger: Logger = Box::new(move |_, line| {
            assert!(!line.contains('\n'));
            *seen.lock().unwrap() = Some(set_logger(None, None).is_err());
            // Logging from inside the callback is dropped, not recursed into.
            event!(Level::Error, "inner");
        });
        set_logger(Some(logger), Some(Level::Debug)).unwrap();
        event!(Level::Error, "a\nb");
        set_logger(None, None).unwrap();
        assert_eq!(*refused.lock().unwrap(), Some(true));
    }

    #[test]
    fn bad_levels_and_env_values() {
        assert_eq!(parse_env("debug"), Some(4));
        assert_eq!(parse_env("warn"), Some(2));
        assert_eq!(parse_env(""), Some(OFF));
        assert_eq!(parse_env("verbose"), None);
        assert_eq!(path_only("/site/x?id=1"), "/site/x");
    }

    #[test]
    fn stream_summary_levels() {
        let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
        let lines = collect(Level::Debug);
        let mut s = StreamStats::default();
        s.sending();
        s.headers();
        s.chunk(5);
        s.chunk(0);
        s.ended();
        s.ended(); // once only
        let mut f = StreamStats::default();
        f.sending();
        let mut e = Error::new(ErrorKind::HttpStatus, "secret text");
        e.http_status = Some(500);
        f.failed(&e);
        set_logger(None, None).unwrap();
        let lines = lines.lock().unwrap();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0].0, Level::Info);
        assert!(lines[0].1.starts_with("chat stream ended normally: first byte "), "{}", lines[0].1);
        assert!(lines[0].1.contains("2 chunks, 5 bytes of text"), "{}", lines[0].1);
        assert_eq!(lines[1].0, Level::Error);
        assert!(
            lines[1].1.starts_with("chat stream failed (http_status, HTTP 500): first byte none"),
            "{}",
            lines[1].1
        );
        assert!(!lines[1].1.contains("secret"));
    }
}

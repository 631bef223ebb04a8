//! Cancel races through the C ABI (issue 6, defects 1 and 4): a cancel from another thread, at
//! a random moment of a request's life (connecting, headers then silence, mid-body in large
//! events, between reads, against a server flooding empty events), must end the read with
//! `USTB_CANCELLED` (or `USTB_END_OF_STREAM` if the reply was already complete) on every read
//! path: `next`, `collect`, `for_each`.
//!
//! Each read runs on a worker thread; the test thread cancels, then waits a bounded time, so a
//! hang fails the test instead of hanging the suite. Timing is only bounded generously (the
//! contract is 100 ms; the machine is shared); the median and worst latency are printed
//! (`--nocapture`). `USTB_CANCEL_TRIALS=N` multiplies the trial counts; a scenario stops after
//! `USTB_CANCEL_MAX_HANGS` (default 2) hangs, since a hung read may spin a core until exit.

mod common;

use std::ffi::{c_char, c_int, c_void};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::ptr;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use ustb_openai::emulator::{Config, Emulator};
use ustb_openai::ffi::*;

/// A read still running this long after the cancel counts as hung.
const HANG: Duration = Duration::from_secs(5);

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

fn trials(default: usize) -> usize {
    default * env_usize("USTB_CANCEL_TRIALS", 1).max(1)
}

#[derive(Clone, Copy, Debug)]
enum Path {
    Next,
    Collect,
    ForEach,
}

const PATHS: [Path; 3] = [Path::Next, Path::Collect, Path::ForEach];

unsafe extern "C" fn count_chunk(userdata: *mut c_void, _chunk: *const c_char, _len: usize) -> c_int {
    *(userdata as *mut usize) += 1;
    0
}

/// Reads the rest of `s` through `path`: the final status and how many chunks came first.
fn read_to_end(s: &Stream, path: Path) -> (ustb_status, usize) {
    let mut err = ptr::null_mut();
    match path {
        Path::Next => {
            let (chunks, failure) = drain(s);
            (failure.map_or(ustb_status::USTB_END_OF_STREAM, |f| f.status), chunks.len())
        }
        Path::Collect => {
            let mut out = ptr::null_mut();
            let st = unsafe { ustb_chat_stream_collect(s.0, &mut out, &mut err) };
            if st == ustb_status::USTB_OK {
                unsafe { take_string(out) };
            }
            (check(st, err).unwrap_or_else(|f| f.status), 0)
        }
        Path::ForEach => {
            let mut n = 0usize;
            let st = unsafe {
                ustb_chat_stream_for_each(s.0, Some(count_chunk), &mut n as *mut usize as *mut c_void, &mut err)
            };
            (check(st, err).unwrap_or_else(|f| f.status), n)
        }
    }
}

/// Figures of one scenario.
struct Tally {
    name: String,
    trials: usize,
    hangs: usize,
    /// The read returned before the cancel (the reply was complete).
    before_cancel: usize,
    latencies: Vec<Duration>,
}

impl Tally {
    fn new(name: &str) -> Tally {
        Tally { name: name.to_string(), trials: 0, hangs: 0, before_cancel: 0, latencies: Vec::new() }
    }

    fn stop_early(&self) -> bool {
        self.hangs >= env_usize("USTB_CANCEL_MAX_HANGS", 2).max(1)
    }

    /// Prints the figures and fails on any hang.
    fn finish(mut self) {
        self.latencies.sort();
        let median = self.latencies.get(self.latencies.len() / 2).copied().unwrap_or_default();
        let worst = self.latencies.last().copied().unwrap_or_default();
        println!(
            "cancel race {}: {} trials, {} hung (> {HANG:?}), {} complete before the cancel; latency median {median:?}, worst {worst:?}",
            self.name, self.trials, self.hangs, self.before_cancel
        );
        assert_eq!(
            self.hangs, 0,
            "{}: {} of {} trials did not return within {HANG:?} of the cancel",
            self.name, self.hangs, self.trials
        );
    }
}

/// Starts reading `s` on a worker, cancels after `delay`, and waits for the read. Records
/// the latency, or a hang (the worker is then left behind, holding its stream).
fn race(t: &mut Tally, s: Stream, path: Path, delay: Duration, may_end: bool) {
    t.trials += 1;
    let s = Arc::new(s);
    let worker = s.clone();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let (status, _) = read_to_end(&worker, path);
        let _ = tx.send((status, Instant::now()));
    });
    thread::sleep(delay);
    let cancelled_at = Instant::now();
    unsafe { ustb_chat_stream_cancel(s.0) };
    let Ok((status, returned_at)) = rx.recv_timeout(HANG) else {
        t.hangs += 1;
        eprintln!("{}: {path:?} hung after a cancel {delay:?} in (trial {})", t.name, t.trials);
        return;
    };
    if returned_at < cancelled_at {
        t.before_cancel += 1;
    }
    t.latencies.push(returned_at.saturating_duration_since(cancelled_at));
    let ended = may_end && matches!(status, ustb_status::USTB_END_OF_STREAM | ustb_status::USTB_OK);
    assert!(ended || status == ustb_status::USTB_CANCELLED, "{}: {path:?} ended with {status:?}", t.name);
    // Sticky: every later read says the same.
    let later = next(&s).err().map(|f| f.status);
    let want = if ended { None } else { Some(ustb_status::USTB_CANCELLED) };
    assert_eq!(later, want, "{}: a read after the outcome {status:?}", t.name);
}

fn big_events_emulator() -> Emulator {
    emulator_with(Config { chunk_chars: 50_000, ..Config::default() })
}

/// Issue 6, defect 1: a long reply in 50 000-character events; one chunk is read, then the
/// cancel comes 0-4 ms later while the next reads run.
fn mid_body(path: Path, default_trials: usize, seed: u64) {
    let emu = big_events_emulator();
    let c = login_client(&emu);
    let mut rng = Rng(seed);
    let mut t = Tally::new(&format!("mid-body/{path:?}"));
    for _ in 0..trials(default_trials) {
        let s = open(&c, &user("@emu:long=4000000")).unwrap();
        assert!(next(&s).unwrap().is_some(), "the first chunk arrives");
        race(&mut t, s, path, Duration::from_micros(rng.below(4001)), false);
        if t.stop_early() {
            break;
        }
    }
    t.finish();
}

#[test]
fn mid_body_next() {
    mid_body(Path::Next, 100, 1);
}

#[test]
fn mid_body_collect() {
    mid_body(Path::Collect, 50, 2);
}

#[test]
fn mid_body_for_each() {
    mid_body(Path::ForEach, 50, 3);
}

/// A cancel at any moment of a request's life: before the send, while connecting and sending,
/// waiting for the headers, or reading the body. The reply may complete first.
#[test]
fn random_moments() {
    let emu = big_events_emulator();
    let c = login_client(&emu);
    let mut rng = Rng(4);
    let mut t = Tally::new("random-moment");
    for i in 0..trials(60) {
        let s = open(&c, &user("@emu:long=1000000")).unwrap();
        race(&mut t, s, PATHS[i % 3], Duration::from_micros(rng.below(30_000)), true);
        if t.stop_early() {
            break;
        }
    }
    t.finish();
}

/// Headers, then a silent server.
#[test]
fn headers_then_silence() {
    let emu = emulator();
    let c = login_client(&emu);
    let mut rng = Rng(5);
    let mut t = Tally::new("silent-headers");
    for i in 0..trials(15) {
        let s = open(&c, &user("@emu:silent-headers")).unwrap();
        race(&mut t, s, PATHS[i % 3], Duration::from_micros(rng.below(50_000)), false);
        if t.stop_early() {
            break;
        }
    }
    t.finish();
}

/// A cancel while no read runs: the next read on any path says CANCELLED and hands out no
/// chunk, though one may already be buffered.
#[test]
fn between_reads() {
    let emu = big_events_emulator();
    let c = login_client(&emu);
    let mut t = Tally::new("between-reads");
    for i in 0..trials(15) {
        let s = open(&c, &user("@emu:long=1000000")).unwrap();
        assert!(next(&s).unwrap().is_some());
        unsafe { ustb_chat_stream_cancel(s.0) };
        t.trials += 1;
        let path = PATHS[i % 3];
        let started = Instant::now();
        let (status, chunks) = read_to_end(&s, path);
        t.latencies.push(started.elapsed());
        assert_eq!((status, chunks), (ustb_status::USTB_CANCELLED, 0), "{path:?} after a cancel");
    }
    t.finish();
}

/// A listener whose accept queue is full: the kernel drops further SYNs, so a connect hangs.
struct FullBacklog {
    listener: TcpListener,
    _queued: Vec<TcpStream>,
}

fn full_backlog() -> FullBacklog {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    // std listens with a large backlog; listening again shrinks it (Linux allows this).
    assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0);
    let addr = listener.local_addr().unwrap();
    let mut queued = Vec::new();
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            Ok(s) => queued.push(s),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => break,
            Err(e) => panic!("filling the accept queue: {e}"),
        }
        assert!(queued.len() < 64, "the accept queue never filled: a hanging connect cannot be staged here");
    }
    FullBacklog { listener, _queued: queued }
}

/// Issue 6, defect 4: the cancel comes while the TCP connect hangs.
#[test]
fn while_connecting() {
    let backlog = full_backlog();
    let url = format!("http://{}", backlog.listener.local_addr().unwrap());
    let c = client(&json!({ "base_url": url, "vjuid_login": LOGIN, "max_retries": 0, "connect_timeout_ms": 20_000 }))
        .unwrap();
    let mut rng = Rng(6);
    let mut t = Tally::new("connecting");
    for i in 0..trials(6) {
        let s = open(&c, &user("hi")).unwrap();
        race(&mut t, s, PATHS[i % 3], Duration::from_micros(rng.below(300_000)), false);
        if t.stop_early() {
            break;
        }
    }
    t.finish();
}

/// Answers every request with an endless run of events that carry no text (no chunk ever
/// comes), until the client goes away.
fn flood_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut sock) = conn else { return };
            thread::spawn(move || {
                let mut request = [0u8; 64 << 10];
                let _ = sock.read(&mut request);
                let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";
                let events = "data: {\"e\":0,\"m\":\"\",\"d\":{\"answer\":\"\",\"ext\":[]}}\n\n".repeat(256);
                if sock.write_all(head.as_bytes()).is_ok() {
                    while sock.write_all(events.as_bytes()).is_ok() {}
                }
            });
        }
    });
    url
}

#[test]
fn flood_of_empty_events() {
    let url = flood_server();
    let c = client(&json!({ "base_url": url, "vjuid_login": LOGIN, "max_retries": 0 })).unwrap();
    let mut rng = Rng(7);
    let mut t = Tally::new("empty-event-flood");
    for i in 0..trials(9) {
        let s = open(&c, &user("hi")).unwrap();
        race(&mut t, s, PATHS[i % 3], Duration::from_micros(1000 + rng.below(30_000)), false);
        if t.stop_early() {
            break;
        }
    }
    t.finish();
}

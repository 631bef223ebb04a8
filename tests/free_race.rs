//! Freeing a handle while a call on it runs in another thread (issue 16, item 1): the C
//! program tests/c/free_race.c frees each kind of handle (login, stream, client, canceller)
//! at a random moment of a running call, plainly, under valgrind and under ASan+UBSan. Before
//! handles were reference-counted it crashed (a freed login read in `Login::redact`).
//!
//! `USTB_FREE_RACE_ROUNDS=N` sets the rounds (default 10 plainly and under ASan, 2 under
//! valgrind, which is about 30 times slower). A missing compiler or valgrind fails the test.

mod common;

use std::time::Instant;

use common::{assert_ok, compile_with, run_bounded, EmulatorProcess, ASAN_ENV, SANITIZE, VALGRIND};

/// The emulator the program expects: chat without a login, and QR codes nobody scans.
const EMULATOR: &[&str] = &["--no-login", "--sso-qr-script", "scan@600000", "--delay-ms", "1"];

fn rounds(default: usize) -> String {
    let n = std::env::var("USTB_FREE_RACE_ROUNDS").ok().and_then(|v| v.parse::<usize>().ok()).unwrap_or(default);
    n.max(1).to_string()
}

fn run(how: &str, prefix: &[&str], sanitized: bool, env: &[(&str, &str)], default_rounds: usize) {
    // One program per test: the tests run at once, and a program being linked cannot run.
    let name = match (sanitized, prefix.is_empty()) {
        (true, _) => "free_race_asan",
        (false, true) => "free_race",
        (false, false) => "free_race_valgrind",
    };
    let exe = compile_with(false, name, &["tests/c/free_race.c"], if sanitized { SANITIZE } else { &[] });
    let emu = EmulatorProcess::start_with(EMULATOR);
    let rounds = rounds(default_rounds);
    let seed = std::process::id().to_string();
    let start = Instant::now();
    let out = run_bounded(prefix, &exe, &[&emu.url, &rounds, &seed], env, 600);
    eprintln!("free_race {how} (seed {seed}): {:?} in {:.1?}", out.status, start.elapsed());
    assert_ok(&format!("free_race ({how}, seed {seed})"), &out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("{rounds} rounds, 0 failures")), "free_race ({how}) did not finish: {stdout}");
    eprintln!("{}", stdout.trim());
}

#[test]
fn free_while_a_call_runs_plain() {
    run("plain", &[], false, &[], 10);
}

#[test]
fn free_while_a_call_runs_under_valgrind() {
    run("valgrind", VALGRIND, false, &[], 2);
}

#[test]
fn free_while_a_call_runs_under_address_sanitizer() {
    run("ASan+UBSan", &[], true, ASAN_ENV, 10);
}

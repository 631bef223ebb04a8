//! Every host language's own test suite (examples/<language>/run-tests.sh) against the built
//! library and the emulator. A missing toolchain fails here: CI installs them (.ci/run).

mod common;

use std::process::Command;
use std::sync::Mutex;

use common::{assert_ok, library, root, run};

/// One suite at a time: some measure timing (cancel latency, event-loop gaps) and memory,
/// which four suites at once on two cores would blur.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn host(language: &str) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let lib = library();
    let script = root().join("examples").join(language).join("run-tests.sh");
    let out = run(Command::new("bash")
        .arg(&script)
        .env("USTB_LIB_DIR", lib)
        .env("USTB_INCLUDE_DIR", root().join("include"))
        .env("USTB_EMULATOR", lib.join("ustb-emulator")));
    assert_ok(&format!("{language} tests"), &out);
    // The script's last line is its summary, e.g. "go: 12 tests passed".
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
    assert!(summary.starts_with(&format!("{language}: ")) && summary.contains("passed"), "{language}: {summary}");
    eprintln!("{summary}");
}

#[test]
fn go() {
    host("go");
}

#[test]
fn csharp() {
    host("csharp");
}

#[test]
fn node() {
    host("node");
}

#[test]
fn python() {
    host("python");
}

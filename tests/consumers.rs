//! Each host language used the way a user's own project would use it: `make install` into a
//! prefix once, then every host's examples/<host>/consumer-test.sh installs the package the way
//! its ecosystem expects into a fresh directory outside the repository, builds a small consumer
//! program there and runs it against the installed emulator (each script says how). The
//! environment is cleaned of the variables that would hide a broken install (LD_LIBRARY_PATH,
//! PYTHONPATH, NODE_PATH, PKG_CONFIG_PATH). A missing or failing script fails its test.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use common::{assert_ok, root, run, target_dir};

/// Every host that must have a consumer test.
const HOSTS: [&str; 6] = ["c", "cpp", "go", "node", "python", "csharp"];

/// One script at a time: several build with cargo or compilers on a small machine.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// `make install` into target/consumers/prefix (debug profile, built in target/install, so the
/// library the other tests use in target/debug is left alone), once per test run.
fn prefix() -> &'static PathBuf {
    static PREFIX: OnceLock<PathBuf> = OnceLock::new();
    PREFIX.get_or_init(|| {
        let prefix = target_dir().join("consumers/prefix");
        let _ = std::fs::remove_dir_all(&prefix);
        let out = run(Command::new("make")
            .current_dir(root())
            .arg("install")
            .arg(format!("PREFIX={}", prefix.display()))
            .arg("PROFILE=debug"));
        assert_ok("make install", &out);
        prefix
    })
}

fn script(host: &str) -> PathBuf {
    root().join("examples").join(host).join("consumer-test.sh")
}

fn consumer(host: &str) {
    let script = script(host);
    assert!(script.is_file(), "{host}: {} is missing", script.display());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let prefix = prefix();
    // Outside the repository, so nothing can be found through it by accident.
    let work = std::env::temp_dir().join(format!("ustb-consumer-{host}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let out = run(Command::new("bash")
        .arg(&script)
        .env("USTB_PREFIX", prefix)
        .env("USTB_WORK", &work)
        .env("USTB_ROOT", root())
        .env_remove("LD_LIBRARY_PATH")
        .env_remove("PYTHONPATH")
        .env_remove("NODE_PATH")
        .env_remove("PKG_CONFIG_PATH"));
    assert_ok(&format!("{host} consumer (work dir kept: {})", work.display()), &out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
    assert_eq!(last, format!("{host}: consumer passed"), "{host}: the script's last line");
    eprintln!("{stdout}");
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn every_host_has_a_consumer_test() {
    use std::os::unix::fs::PermissionsExt;
    let executable =
        |h: &&str| std::fs::metadata(script(h)).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    let missing: Vec<_> = HOSTS.iter().filter(|h| !executable(h)).collect();
    assert!(missing.is_empty(), "no executable examples/<host>/consumer-test.sh for: {missing:?}");
}

#[test]
fn c() {
    consumer("c");
}

#[test]
fn cpp() {
    consumer("cpp");
}

#[test]
fn go() {
    consumer("go");
}

#[test]
fn node() {
    consumer("node");
}

#[test]
fn python() {
    consumer("python");
}

#[test]
fn csharp() {
    consumer("csharp");
}

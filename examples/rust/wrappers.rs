//! The host wrappers' own bench programs, each built the way its examples/*/run-tests.sh builds
//! it and run as a child process against the canned server:
//!
//! - Go: `examples/go/cmd/bench` (`Stream.Recv` loop), `go build` with cgo against target/release
//! - Node: `examples/node/bench.js` (`for await`), after `npm ci` when node_modules is missing
//! - C#: `examples/csharp/Bench.cs` (`foreach` over the ChatStream), `mcs` then `mono`
//! - Python: `examples/python/bench/wrapper_bench.py` (`for chunk in ….create(stream=True)`)
//!
//! Each prints `chunks N`, `chunks/s MEDIAN` (wall clock) and `cpu-chunks/s MEDIAN` (per
//! CPU-second of the whole child process, every thread), after one warm-up reply. A missing
//! tool, library or failed build gives a reason instead of a figure: this is a benchmark, not a
//! test. Build and run output goes to target/wrapper-bench/<host>.log.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// One host wrapper.
pub struct Host {
    pub name: &'static str,
    /// The streaming call measured, for the table.
    pub api: &'static str,
    /// Programs that must be on PATH.
    tools: &'static [&'static str],
}

pub const HOSTS: [Host; 4] = [
    Host { name: "Go", api: "Stream.Recv()", tools: &["go", "pkg-config"] },
    Host { name: "Node", api: "for await", tools: &["node", "npm"] },
    Host { name: "C#", api: "foreach over ChatStream (Mono)", tools: &["mcs", "mono"] },
    Host { name: "Python", api: "for chunk in create(stream=True) (ctypes)", tools: &["python"] },
];

/// What one wrapper's program reported.
pub struct Measured {
    pub chunks: usize,
    pub rate: f64,
    pub cpu_rate: f64,
}

/// Builds (if needed) and runs `host`'s bench program against `url`, `runs` timed replies.
/// `python` is the interpreter the Python seed client uses.
pub fn measure(host: &Host, url: &str, runs: usize, python: &str) -> Result<Measured, String> {
    let lib_dir = Path::new(ROOT).join("target/release");
    if !lib_dir.join("libustb_openai.so").exists() {
        return Err("no target/release/libustb_openai.so (cargo build --release --lib)".into());
    }
    // The soname link `make build` makes for target/debug: cgo binaries load libustb_openai.so.0.
    let soname = lib_dir.join("libustb_openai.so.0");
    if !soname.exists() {
        std::os::unix::fs::symlink("libustb_openai.so", &soname).map_err(|e| format!("{}: {e}", soname.display()))?;
    }
    // The commands below run in the wrappers' directories: a relative interpreter path would break.
    let python = match python.contains('/') {
        true => std::path::absolute(python).map_err(|e| format!("{python}: {e}"))?,
        false => PathBuf::from(python), // looked up on PATH
    };
    let python = python.to_str().unwrap();
    for name in host.tools {
        let path = find_tool(if *name == "python" { python } else { name });
        if !path.is_some_and(|p| p.exists()) {
            return Err(format!("{name} missing"));
        }
    }
    let out = Path::new(ROOT).join("target/wrapper-bench");
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let log = out.join(format!("{}.log", host.name.replace('#', "sharp").to_lowercase()));
    let _ = std::fs::remove_file(&log);
    let ex = Path::new(ROOT).join("examples");
    let runs = runs.to_string();
    let mut run = match host.name {
        "Go" => {
            let bin = out.join("go-bench");
            let mut build = cmd("go", &ex.join("go"), &lib_dir);
            build.args(["build", "-o"]).arg(&bin).arg("./cmd/bench");
            // As run-tests.sh: the package finds the library through `#cgo pkg-config`, here a
            // ustb_openai.pc for target/release; the rpath goes into CGO_LDFLAGS, which Go's
            // build cache keys on (it does not key on pkg-config's output).
            let pc_dir = out.join("pkgconfig");
            write_pc(&pc_dir, &lib_dir)?;
            let pc_path = std::env::var("PKG_CONFIG_PATH").map(|v| format!(":{v}")).unwrap_or_default();
            build.env("PKG_CONFIG_PATH", format!("{}{pc_path}", pc_dir.display()));
            build.env("CGO_ENABLED", "1").env("GOTOOLCHAIN", "local");
            build.env("CGO_LDFLAGS", format!("-Wl,-rpath,{} -O2", lib_dir.display()));
            step(&mut build, &log, "go build")?;
            cmd(bin.to_str().unwrap(), &ex.join("go"), &lib_dir)
        }
        "Node" => {
            let dir = ex.join("node");
            if needs_npm_ci(&dir) {
                let mut ci = cmd("npm", &dir, &lib_dir);
                ci.args(["ci", "--no-audit", "--no-fund"]);
                step(&mut ci, &log, "npm ci")?;
            }
            let mut c = cmd("node", &dir, &lib_dir);
            c.arg("bench.js");
            c
        }
        "C#" => {
            let dir = out.join("csharp");
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            let (dll, exe) = (dir.join("UstbOpenAI.dll"), dir.join("Bench.exe"));
            // run-tests.sh's flags, plus -optimize+ as a release build would have.
            let flags = ["-langversion:7", "-warn:4", "-warnaserror+", "-nologo", "-optimize+"];
            let mut lib = cmd("mcs", &ex.join("csharp"), &lib_dir);
            lib.args(flags).arg("-target:library").arg(format!("-out:{}", dll.display())).arg("UstbOpenAI.cs");
            step(&mut lib, &log, "mcs UstbOpenAI.cs")?;
            let mut prog = cmd("mcs", &ex.join("csharp"), &lib_dir);
            prog.args(flags).arg(format!("-r:{}", dll.display())).arg(format!("-out:{}", exe.display()));
            step(prog.arg("Bench.cs"), &log, "mcs Bench.cs")?;
            let mut c = cmd("mono", &dir, &lib_dir);
            c.arg(&exe);
            c
        }
        "Python" => {
            let mut c = cmd(python, &ex.join("python"), &lib_dir);
            c.arg("bench/wrapper_bench.py");
            c
        }
        other => unreachable!("unknown host {other}"),
    };
    step(run.arg(url).arg(&runs), &log, "the bench program")?;
    parse(&std::fs::read_to_string(&log).unwrap_or_default())
        .ok_or_else(|| format!("no `chunks`, `chunks/s`, `cpu-chunks/s` lines in {}", log.display()))
}

/// A ustb_openai.pc in `dir` for the library in `lib_dir` and the checked-in header.
fn write_pc(dir: &Path, lib_dir: &Path) -> Result<(), String> {
    let version = env!("CARGO_PKG_VERSION");
    let pc = format!(
        "Name: ustb_openai\nDescription: ustb-openai from {lib} (examples/rust/wrappers.rs)\n\
         Version: {version}\nLibs: -L{lib} -lustb_openai\nCflags: -I{ROOT}/include\n",
        lib = lib_dir.display()
    );
    std::fs::create_dir_all(dir).and_then(|_| std::fs::write(dir.join("ustb_openai.pc"), pc)).map_err(|e| e.to_string())
}

/// A command for a wrapper tool, with the library in target/release and nothing from the
/// caller's environment that would point the wrappers at another library or server.
fn cmd(program: &str, dir: &Path, lib_dir: &Path) -> Command {
    let program = find_tool(program).unwrap_or_else(|| PathBuf::from(program));
    let mut c = Command::new(program);
    c.current_dir(dir).env("PATH", search_path()).env("USTB_LIB_DIR", lib_dir);
    let ld = std::env::var("LD_LIBRARY_PATH").map(|v| format!(":{v}")).unwrap_or_default();
    c.env("LD_LIBRARY_PATH", format!("{}{ld}", lib_dir.display()));
    for var in ["USTB_OPENAI_LIB", "USTB_BASE_URL", "USTB_VJUID_LOGIN", "USTB_EASY_SESSION", "USTB_COOKIE"] {
        c.env_remove(var);
    }
    c
}

/// PATH plus /usr/local/go/bin, where .ci/deps.sh installs Go (as run-tests.sh adds it).
fn search_path() -> String {
    let path = std::env::var("PATH").unwrap_or_default();
    format!("{path}:/usr/local/go/bin")
}

fn find_tool(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        return Some(PathBuf::from(name));
    }
    std::env::split_paths(&search_path()).map(|d| d.join(name)).find(|p| p.is_file())
}

/// As run-tests.sh: `npm ci` when koffi is missing or the lock file is newer than the install.
fn needs_npm_ci(dir: &Path) -> bool {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let installed = modified(&dir.join("node_modules/.package-lock.json"));
    !dir.join("node_modules/koffi").exists()
        || installed.is_none()
        || modified(&dir.join("package-lock.json")) > installed
}

/// Runs `c` with its output appended to `log`; a failure or a hang past 10 minutes is an error
/// naming `what` and the log's last line.
fn step(c: &mut Command, log: &Path, what: &str) -> Result<(), String> {
    let file = File::options().create(true).append(true).open(log).map_err(|e| e.to_string())?;
    let err = file.try_clone().map_err(|e| e.to_string())?;
    let mut child =
        c.stdin(Stdio::null()).stdout(file).stderr(err).spawn().map_err(|e| format!("{what}: cannot start: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(600);
    let status = loop {
        if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{what} ran over 10 minutes (see {})", log.display()));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if status.success() {
        return Ok(());
    }
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    let last: String = last.chars().take(160).collect();
    Err(format!("{what} failed ({status}): {last} (see {})", log.display()))
}

/// The `chunks N`, `chunks/s R` and `cpu-chunks/s R` lines of a bench program's output.
fn parse(out: &str) -> Option<Measured> {
    let value =
        |key: &str| out.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse::<f64>().ok());
    Some(Measured { chunks: value("chunks")? as usize, rate: value("chunks/s")?, cpu_rate: value("cpu-chunks/s")? })
}

//! The server-fault matrix: every row of tests/faults.tsv runs through the C pull API
//! (tests/c/fault_matrix.c) against the emulator, natively and under valgrind, and the README's
//! fault table is the rendering of that file. A missing compiler or valgrind fails the tests.
//!
//! After editing tests/faults.tsv, regenerate the README block with
//! `USTB_UPDATE_README=1 cargo test --test faults readme`.

mod common;

use std::process::Command;

use common::{assert_ok, compile, emulator, root, run};

const BEGIN: &str = "<!-- faults:begin -->";
const END: &str = "<!-- faults:end -->";
/// Per-call bound natively, and under valgrind (which slows the 8 MB event about 20-fold).
const BOUND_MS: &str = "10000";
const VALGRIND_BOUND_MS: &str = "120000";

struct Row {
    how: String,
    options: String,
    status: String,
    message: String,
    expect: String,
    description: String,
}

fn table() -> Vec<Row> {
    let text = std::fs::read_to_string(root().join("tests/faults.tsv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("name\thow\toptions\tstatus\tmessage\texpect\tdescription"), "the header line");
    let mut names = std::collections::HashSet::new();
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            assert_eq!(c.len(), 7, "7 tab-separated columns: {l:?}");
            assert!(names.insert(c[0].to_string()), "duplicate row {}", c[0]);
            let success = c[3] == "USTB_END_OF_STREAM";
            assert_eq!(success, c[4] == "-", "{}: a message substring exactly for failures", c[0]);
            Row {
                how: c[1].into(),
                options: c[2].into(),
                status: c[3].into(),
                message: c[4].into(),
                expect: c[5].into(),
                description: c[6].into(),
            }
        })
        .collect()
}

/// One expectation token of the table, in words.
fn expectation(token: &str) -> String {
    let (key, value) = token.split_once('=').unwrap_or((token, ""));
    match key {
        "echo" => "content intact".into(),
        "content" => format!("content “{value}”"),
        "starts" => format!("content starts “{value}”"),
        "min_bytes" => format!("≥ {value} bytes of content"),
        "finish" => format!("finish_reason `{value}`"),
        "http" => format!("`http_status` {value}"),
        "e" => format!("`api_code` {value}"),
        _ => panic!("unknown expectation {token:?} in tests/faults.tsv"),
    }
}

/// The README's fault table, rendered from tests/faults.tsv.
fn render() -> String {
    let mut out =
        String::from("| fault | how the emulator makes it | status | what the message says |\n|---|---|---|---|\n");
    for r in table() {
        let mut how = match r.how.as_str() {
            "refused" => "connect to a closed port (no emulator)".to_string(),
            "nodns" => "host name `chat.ustb.invalid` (no emulator)".to_string(),
            directive => format!("`{directive}` in the prompt"),
        };
        if r.options != "-" {
            how.push_str(&format!("; client options `{{{}}}`", r.options));
        }
        let mut says: Vec<String> = Vec::new();
        if r.message == "-" {
            says.push("— (succeeds)".into());
        } else {
            says.push(format!("contains “{}”", r.message));
        }
        if r.expect != "-" {
            says.extend(r.expect.split(' ').map(expectation));
        }
        out.push_str(&format!("| {} | {how} | `{}` | {} |\n", r.description, r.status, says.join("; ")));
    }
    out
}

#[test]
fn readme_table_is_the_rendering_of_faults_tsv() {
    let path = root().join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let start = readme.find(BEGIN).expect("README has the faults:begin marker") + BEGIN.len();
    let end = readme.find(END).expect("README has the faults:end marker");
    assert!(start <= end, "markers in order");
    let want = format!("\n{}", render());
    if std::env::var_os("USTB_UPDATE_README").is_some() {
        let updated = format!("{}{want}{}", &readme[..start], &readme[end..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    assert!(
        readme[start..end] == want,
        "the README's fault table differs from tests/faults.tsv; regenerate it with \
         `USTB_UPDATE_README=1 cargo test --test faults readme`"
    );
}

/// Runs the C program over the table and checks its report covers every row.
fn check_run(what: &str, out: &std::process::Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{what}:\n{stdout}");
    assert_ok(what, out);
    let rows = table().len();
    assert!(stdout.contains(&format!("{rows} rows, 0 failed")), "{what}: every row ran and passed");
}

#[test]
fn fault_matrix_from_c() {
    let exe = compile(false, "fault_matrix", &["tests/c/fault_matrix.c"]);
    let emu = emulator();
    let table = root().join("tests/faults.tsv");
    let out = run(Command::new(&exe).arg(emu.base_url()).arg(&table).arg(BOUND_MS));
    check_run("fault_matrix", &out);
}

#[test]
fn fault_matrix_from_c_under_valgrind() {
    let exe = compile(false, "fault_matrix_vg", &["tests/c/fault_matrix.c"]);
    let emu = emulator();
    let table = root().join("tests/faults.tsv");
    // Exit 9: valgrind found errors or leaks; exit 1: a row did not match.
    let out = run(Command::new("valgrind")
        .args(["--quiet", "--error-exitcode=9", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect"])
        .arg(&exe)
        .arg(emu.base_url())
        .arg(&table)
        .arg(VALGRIND_BOUND_MS));
    check_run("fault_matrix under valgrind", &out);
}

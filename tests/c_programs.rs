//! C programs against the built shared library: the header compiles cleanly as C99 and C++,
//! the example CLI streams from an emulator child process, and a C test program passes,
//! also under valgrind. A missing compiler or valgrind fails these tests; nothing is skipped.

mod common;

use std::process::Command;

use common::{assert_ok, compile, library, root, run, target_dir, EmulatorProcess};

#[test]
fn header_compiles_as_strict_c99_and_cpp() {
    let dir = library();
    let src = dir.join("header_check.c");
    std::fs::write(&src, "#include \"ustb_openai.h\"\nint main(void) { return ustb_version()[0] == 0; }\n").unwrap();
    let include = format!("-I{}", root().join("include").display());
    let c = run(Command::new("cc")
        .args(["-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Wstrict-prototypes", "-Werror", "-fsyntax-only"])
        .arg(&include)
        .arg(&src));
    assert_ok("header as C99", &c);
    let cpp = run(Command::new("c++")
        .args(["-std=c++11", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-fsyntax-only", "-x", "c++"])
        .arg(&include)
        .arg(&src));
    assert_ok("header as C++", &cpp);
}

#[test]
fn example_chat_streams_from_the_emulator() {
    let exe = compile(false, "chat", &["examples/c/chat.c"]);
    let emu = EmulatorProcess::start();
    let out = run(Command::new(&exe).args([
        "--base-url",
        &emu.url,
        "--cookie",
        "cookie_vjuid_login=demo",
        "--usage",
        "请介绍你自己。",
    ]));
    assert_ok("chat", &out);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let thinking = stdout.find("【思考】").expect("reasoning is marked");
    let answer = stdout.find("【回答】").expect("answer is marked");
    assert!(thinking < answer);
    assert!(stdout.contains("好的，用户问：请介绍你自己。。"));
    assert!(stdout.contains("你好！我是北科大 AI 助手。"));
    assert!(stdout.contains("\"total_tokens\":11"));

    // Without the login cookie: exit 1 and the auth error named on stderr.
    let out = run(Command::new(&exe).args(["--base-url", &emu.url, "hi"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("USTB_AUTH_ERROR"));
    // Bad usage: exit 2.
    assert_eq!(run(&mut Command::new(&exe)).status.code(), Some(2));
}

#[test]
fn c_api_test_program_passes_under_valgrind() {
    let exe = compile(false, "api_test", &["tests/c/api_test.c"]);
    let emu = EmulatorProcess::start();
    let out = run(Command::new(&exe).arg(&emu.url));
    assert_ok("api_test", &out);
    let out = run(Command::new("valgrind")
        .args(["--quiet", "--error-exitcode=9", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect"])
        .arg(&exe)
        .arg(&emu.url));
    assert_ok("api_test under valgrind", &out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("all checks passed"));
}

#[test]
fn cpp_wrapper_and_example() {
    let test = compile(true, "wrapper_test", &["tests/cpp/wrapper_test.cpp"]);
    let example = compile(true, "chat_cpp", &["examples/cpp/chat.cpp"]);
    let emu = EmulatorProcess::start();
    let out = run(Command::new(&test).arg(&emu.url));
    assert_ok("wrapper_test", &out);
    let out = run(Command::new(&example).args(["--base-url", &emu.url, "--cookie", "cookie_vjuid_login=x", "你好"]));
    assert_ok("chat_cpp", &out);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("好的，用户问：你好。\n---\n你好！我是北科大 AI 助手。你说：「你好」"), "{stdout}");
}

#[test]
fn install_then_build_with_pkg_config_only() {
    library();
    let prefix = target_dir().join("install-test");
    let _ = std::fs::remove_dir_all(&prefix);
    let out = run(Command::new("make")
        .current_dir(root())
        .arg("install")
        .arg(format!("PREFIX={}", prefix.display()))
        .arg("PROFILE=debug"));
    assert_ok("make install", &out);
    let lib = prefix.join("lib");
    let readelf = run(Command::new("readelf").arg("-d").arg(lib.join("libustb_openai.so")));
    assert!(String::from_utf8_lossy(&readelf.stdout).contains("Library soname: [libustb_openai.so.0]"));
    assert!(prefix.join("include/ustb_openai.hpp").exists());

    let pc_path = lib.join("pkgconfig");
    let flags = |args: &[&str]| -> Vec<String> {
        let out = run(Command::new("pkg-config").env("PKG_CONFIG_PATH", &pc_path).args(args).arg("ustb_openai"));
        assert_ok("pkg-config", &out);
        String::from_utf8(out.stdout).unwrap().split_whitespace().map(str::to_string).collect()
    };
    let src = root().join("tests/c/pkg_config_check.c");
    let emu = EmulatorProcess::start();
    // Shared, then static (no shared library needed at run time).
    for (name, args) in [
        ("pkgconfig_shared", &["--cflags", "--libs"][..]),
        ("pkgconfig_static", &["--static", "--cflags", "--libs"][..]),
    ] {
        let exe = target_dir().join(name);
        let mut cc = Command::new("cc");
        cc.args(["-std=c99", "-Wall", "-Wextra", "-Werror"]).arg(&src).arg("-o").arg(&exe);
        if name.ends_with("static") {
            let mut f = flags(args);
            // Pick the archive over the .so in the same directory.
            let pos = f.iter().position(|a| a == "-lustb_openai").unwrap();
            f.splice(pos..=pos, ["-Wl,-Bstatic".into(), "-lustb_openai".into(), "-Wl,-Bdynamic".into()]);
            cc.args(f);
        } else {
            cc.args(flags(args));
        }
        assert_ok(&format!("cc with pkg-config ({name})"), &run(&mut cc));
        let out = run(Command::new(&exe).env("LD_LIBRARY_PATH", &lib).arg(&emu.url));
        assert_ok(name, &out);
        assert!(String::from_utf8_lossy(&out.stdout).contains("你好！我是北科大 AI 助手。"));
    }
}

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
    let exe = compile(false, "ustb-chat", &["examples/c/chat.c"]);
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
    assert_eq!(String::from_utf8_lossy(&out.stdout), "", "nothing on stdout when nothing came");
}

/// `ustb-chat --login` from nothing to a streamed answer: the QR code in the terminal, the
/// progress, the cookie saved with 0600, then reused with --cookie-file; and the SMS way with
/// the code typed on standard input. The SSO's replies name the real hosts, as the real
/// servers do: `--sso-base-url` alone must keep the whole login on the emulator.
#[test]
fn chat_command_logs_in_and_reuses_the_saved_cookie() {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let exe = compile(false, "ustb-chat", &["examples/c/chat.c"]);
    let emu = EmulatorProcess::start_with(&[
        "--sso-long-poll-ms",
        "300",
        "--sso-qr-script",
        "scan@200,confirm@500",
        "--sso-real-hosts",
    ]);
    let dir = target_dir().join("login-cli");
    std::fs::create_dir_all(&dir).unwrap();
    let (cookie_file, png) = (dir.join("cookie.txt"), dir.join("qr.png"));
    let _ = std::fs::remove_file(&cookie_file);
    let (cookie_path, png_path) = (cookie_file.to_str().unwrap(), png.to_str().unwrap());
    let login = ["--base-url", &emu.url, "--sso-base-url", &emu.url, "--login", "--cookie-file", cookie_path];
    let out = run(Command::new(&exe).args(login).args(["--qr-png", png_path, "你好"]).env_remove("USTB_COOKIE"));
    assert_ok("ustb-chat --login", &out);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let at = |what: &str| stdout.find(what).unwrap_or_else(|| panic!("no {what:?} in {stdout}"));
    assert!(at("scan with WeChat") < at("waiting for a scan"));
    assert!(at("waiting for a scan") < at("scanned: confirm on the phone"));
    assert!(at("scanned: confirm on the phone") < at("confirmed") && at("confirmed") < at("logged in"));
    assert!(at("logged in") < at("【回答】"));
    assert!(stdout.lines().filter(|l| l.contains('█') || l.contains('▀')).count() > 10, "the QR code is drawn");
    assert!(stdout.contains(png_path) && std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
    let saved = std::fs::read_to_string(&cookie_file).unwrap();
    assert!(saved.starts_with("cookie_vjuid_login=") && saved.ends_with('\n'), "{saved}");
    assert_eq!(std::fs::metadata(&cookie_file).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(!stdout.contains(saved.trim().trim_start_matches("cookie_vjuid_login=")), "the cookie is not printed");

    // The saved cookie works on its own.
    let out = run(Command::new(&exe).args(["--base-url", &emu.url, "--cookie-file", cookie_path, "hi"]));
    assert_ok("ustb-chat --cookie-file", &out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("【回答】"));
    // A missing file says how to log in.
    let out = run(Command::new(&exe).args(["--base-url", &emu.url, "--cookie-file", "/nonexistent/c", "hi"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--login --cookie-file"));

    // SMS: the puzzle is solved by the library, the code comes from standard input (the
    // emulator's code is the phone's last six digits); a wrong code first is refused.
    let mut child = Command::new(&exe)
        .args(["--base-url", &emu.url, "--sso-base-url", &emu.url, "--login-sms", "13912345678"])
        .args(["--cookie-file", cookie_path])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"000000\n345678\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_ok("ustb-chat --login-sms", &out);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("the SMS code was sent") && stdout.contains("logged in"), "{stdout}");
    assert!(stderr.contains("step 6'") && !stderr.contains("13912345678"), "{stderr}");
}

#[test]
fn chat_command_usage() {
    let exe = compile(false, "ustb-chat", &["examples/c/chat.c"]);
    let chat = |args: &[&str]| {
        let out = run(Command::new(&exe).args(args).env_remove("USTB_COOKIE"));
        (out.status.code(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
    };
    // --help and -h: the usage on stdout, exit 0; it names every option chat.c parses.
    let (code, help, err) = chat(&["--help"]);
    assert_eq!((code, err.as_str()), (Some(0), ""));
    assert!(help.starts_with("usage: ustb-chat"), "{help}");
    assert_eq!(chat(&["-h"]).1, help);
    let source = std::fs::read_to_string(root().join("examples/c/chat.c")).unwrap();
    // Flags are compared one by one; options with a value are listed in a table.
    let flags = source.split("!strcmp(a, \"").skip(1);
    let valued = source.split("{\"--").skip(1).map(|s| &s[..s.find('"').unwrap()]);
    let valued: Vec<String> = valued.map(|name| format!("--{name}\"")).collect();
    let options: Vec<&str> =
        flags.chain(valued.iter().map(String::as_str)).map(|s| &s[..s.find('"').unwrap()]).collect();
    assert!(options.len() >= 15 && options.contains(&"--cookie-file"), "{options:?}");
    for option in options {
        assert!(help.contains(&format!(" {option} ")) || help.contains(&format!(" {option},")), "usage lacks {option}");
    }
    // Bad usage: exit 2, the reason and the usage on stderr, nothing on stdout.
    for (args, reason) in [
        (&["--base-url"][..], "missing value for option --base-url"),
        (&["hi", "--cookie"][..], "missing value for option --cookie"),
        (&["--bogus", "hi"][..], "unknown option --bogus"),
        (&["one", "two"][..], "more than one prompt"),
        (&[][..], "no prompt"),
        (&["--login", "hi"][..], "--login needs --cookie-file"),
        (&["--sso-base-url", "http://x", "hi"][..], "--qr-png, --sso-base-url and --ca-file need --login"),
        (&["--doctor", "--login", "--cookie-file", "f"][..], "--doctor and --login do not go together"),
    ] {
        let (code, out, err) = chat(args);
        assert_eq!((code, out.as_str()), (Some(2), ""), "{args:?}");
        assert!(
            err.starts_with(&format!("ustb-chat: {reason}")) && err.contains("usage: ustb-chat"),
            "{args:?}: {err}"
        );
    }
    // A refused connection: exit 1, the error on stderr, stdout empty (no stray blank line).
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let (code, out, err) = chat(&["--base-url", &url, "--cookie", "cookie_vjuid_login=x", "hi"]);
    assert_eq!((code, out.as_str()), (Some(1), ""));
    assert!(err.contains("USTB_CONNECT_ERROR"), "{err}");
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
    // The login checks set this one's QR script; short long polls keep them quick.
    let sso = EmulatorProcess::start_with(&["--delay-ms", "5", "--sso-long-poll-ms", "300"]);
    let out = run(Command::new(&test).args([&emu.url, &sso.url]));
    assert_ok("wrapper_test", &out);
    let out = run(Command::new(&example).args(["--base-url", &emu.url, "--cookie", "cookie_vjuid_login=x", "你好"]));
    assert_ok("chat_cpp", &out);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("好的，用户问：你好。\n---\n你好！我是北科大 AI 助手。你说：「你好」"), "{stdout}");
}

/// examples/cpp/login.cpp: a QR code that expires once and is renewed, the progress, the
/// cookie saved with mode 0600 (and not printed), and a reply streamed with the new login.
#[test]
fn cpp_login_example() {
    use std::os::unix::fs::PermissionsExt;
    let example = compile(true, "login_cpp", &["examples/cpp/login.cpp"]);
    let emu = EmulatorProcess::start_with(&[
        "--sso-long-poll-ms",
        "300",
        "--sso-qr-script",
        "expire@200;scan@100,confirm@300",
    ]);
    let file = target_dir().join("login_cpp.cookie");
    let _ = std::fs::remove_file(&file);
    let file_arg = file.to_str().unwrap();
    let url = emu.url.as_str();
    let out = run(Command::new(&example).args([
        "--base-url",
        url,
        "--sso-base-url",
        url,
        "--sis-base-url",
        url,
        "--cookie-file",
        file_arg,
        "你好",
    ]));
    assert_ok("login_cpp", &out);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut rest = stdout.as_str();
    for part in [
        "█",
        "waiting\n",
        "expired\n",
        "renewing the QR code\n",
        "█",
        "scanned\n",
        "confirmed\n",
        &format!("cookie saved to {file_arg} (mode 0600)\n"),
        "【回答】\n你好！我是北科大 AI 助手。你说：「你好」",
    ] {
        let at = rest.find(part).unwrap_or_else(|| panic!("no {part:?} in order in:\n{stdout}"));
        rest = &rest[at + part.len()..];
    }
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let cookie = std::fs::read_to_string(&file).unwrap();
    let cookie = cookie.trim();
    assert!(!cookie.is_empty() && !stdout.contains(cookie));
}

/// What `make install` lays out, staged with DESTDIR for /usr/local (as a distribution package
/// would be built): the files, the soname, a library without the emulator, a .pc without rpath
/// (a system directory: ldconfig's job), relocatable CMake files with a version check, and
/// bin/ustb-chat finding the staged library by itself. Building programs against an installed
/// prefix is tests/consumers.rs.
#[test]
fn install_layout_staged_with_destdir() {
    let stage = target_dir().join("install-test");
    let _ = std::fs::remove_dir_all(&stage);
    let out = run(Command::new("make")
        .current_dir(root())
        .args(["install", "PREFIX=/usr/local", "PROFILE=debug"])
        .arg(format!("DESTDIR={}", stage.display())));
    assert_ok("make install", &out);
    let prefix = stage.join("usr/local");
    for file in [
        "lib/libustb_openai.so.0.1.0",
        "lib/libustb_openai.so.0",
        "lib/libustb_openai.so",
        "lib/libustb_openai.a",
        "include/ustb_openai.h",
        "include/ustb_openai.hpp",
        "lib/pkgconfig/ustb_openai.pc",
        "lib/cmake/ustb_openai/ustb_openaiConfig.cmake",
        "lib/cmake/ustb_openai/ustb_openaiConfigVersion.cmake",
        "bin/ustb-emulator",
        "bin/ustb-chat",
    ] {
        assert!(prefix.join(file).exists(), "{file} is not installed");
    }
    let lib = prefix.join("lib");
    let readelf = run(Command::new("readelf").arg("-d").arg(lib.join("libustb_openai.so")));
    assert!(String::from_utf8_lossy(&readelf.stdout).contains("Library soname: [libustb_openai.so.0]"));

    // The emulator is in bin/ustb-emulator only (its fault names are in no installed library).
    let has_emulator = |file: &str| {
        let bytes = std::fs::read(prefix.join(file)).unwrap();
        bytes.windows(b"close-before-headers".len()).any(|w| w == b"close-before-headers")
    };
    assert!(has_emulator("bin/ustb-emulator"));
    assert!(!has_emulator("lib/libustb_openai.so.0.1.0") && !has_emulator("lib/libustb_openai.a"));

    // The .pc names the final prefix, not the staging directory, and no rpath for /usr/local.
    let pc = std::fs::read_to_string(lib.join("pkgconfig/ustb_openai.pc")).unwrap();
    assert!(pc.contains("libdir=/usr/local/lib\n") && pc.contains("Libs: -L${libdir} -lustb_openai\n"), "{pc}");
    assert!(pc.contains("Libs.private: -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc\n"), "{pc}");
    let config = std::fs::read_to_string(lib.join("cmake/ustb_openai/ustb_openaiConfig.cmake")).unwrap();
    assert!(!config.contains(&stage.display().to_string()) && config.contains("\"gcc_s;util;rt;pthread;m;dl;c\""));

    // The version file: same major version, at least the one asked for.
    let check = target_dir().join("install-test/version-check.cmake");
    let file = lib.join("cmake/ustb_openai/ustb_openaiConfigVersion.cmake");
    std::fs::write(
        &check,
        "include(\"${FILE}\")\nmessage(\"${PACKAGE_VERSION_COMPATIBLE} ${PACKAGE_VERSION_EXACT}\")\n",
    )
    .unwrap();
    for (asked, answer) in
        [("", "TRUE"), ("0.1", "TRUE"), ("0.1.0", "TRUE TRUE"), ("0.0.9", "TRUE"), ("0.2", "FALSE"), ("1.0", "FALSE")]
    {
        let out = run(Command::new("cmake")
            .arg(format!("-DPACKAGE_FIND_VERSION={asked}"))
            .arg(format!("-DPACKAGE_FIND_VERSION_MAJOR={}", asked.split('.').next().unwrap()))
            .arg(format!("-DFILE={}", file.display()))
            .arg("-P")
            .arg(&check));
        assert_ok("cmake -P", &out);
        assert_eq!(String::from_utf8_lossy(&out.stderr).trim_end(), answer, "find_package(ustb_openai {asked})");
    }

    // bin/ustb-chat runs from the staged tree with no LD_LIBRARY_PATH ($ORIGIN/../lib).
    let emu = EmulatorProcess::start();
    let out = run(Command::new(prefix.join("bin/ustb-chat"))
        .args(["--base-url", &emu.url, "--cookie", "cookie_vjuid_login=x", "你好"])
        .env_remove("LD_LIBRARY_PATH"));
    assert_ok("installed ustb-chat", &out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("你好！我是北科大 AI 助手。"));
}

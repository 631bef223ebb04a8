//! `ustb-emulator`: runs the fake chat.ustb.edu.cn server on 127.0.0.1 until killed.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use ustb_openai::emulator::{Config, Emulator, ReplyHosts};

const USAGE: &str = "\
usage: ustb-emulator [--port N] [--chunk-chars N] [--delay-ms N] [--no-login] [--login-token T]
                     [--sso-qr-script S] [--sso-long-poll-ms N] [--sso-sms-closed]
                     [--sso-failed-polls N] [--sso-real-hosts] [--sso-instant-polls]
                     [--sso-poll-cookies N]
                     [--tls-port N --tls-cert FILE --tls-key FILE]

Serves a fake 北科大 AI 助手 (chat.ustb.edu.cn) on 127.0.0.1 until killed.
Prints `ustb-emulator listening on http://127.0.0.1:PORT` once ready (and, with --tls-port,
a second line `ustb-emulator TLS front on https://127.0.0.1:PORT`; scripts that read the first line keep working).
The same port also serves the university SSO and SIS paths (QR and SMS login); the SMS code
sent to a phone is its last 6 digits.
`@emu:NAME` in a chat prompt injects a fault (e.g. @emu:reset, @emu:gzip, @emu:endless-line);
the list is in src/emulator/chat.rs, the faults and their outcomes in tests/faults.tsv.

  --port N          port to bind (default 0: pick a free one)
  --chunk-chars N   characters of text per streamed event (default 4)
  --delay-ms N      pause between streamed events in milliseconds (default 0)
  --no-login        allow chatting (and the session endpoints) without a cookie_vjuid_login cookie
  --login-token T   require cookie_vjuid_login to equal T (also the cookie SSO login sets)
  --sso-qr-script S what happens to each QR code: phases separated by `;` (phase k for the
                    k-th QR code, the last repeats), each comma-separated ACTION@MS with
                    ACTION scan, confirm, expire, expire202 or invalid
                    (default scan@800,confirm@1600; changeable at run time by
                    POST /emulator/sso/qr-script with the script as the body)
  --sso-long-poll-ms N  how long /connect/state waits for a change (default 15000)
  --sso-sms-closed  SMS login unavailable (/idp/captcha/checkOpen answers 404)
  --sso-failed-polls N  the first N /connect/state polls answer HTTP 502
  --sso-real-hosts  absolute URLs in SSO replies name the real hosts (https://sso.ustb.edu.cn,
                    https://sis.ustb.edu.cn, http://chat.ustb.edu.cn) as the real servers do,
                    not this emulator: a client must map them onto its configured base URLs
  --sso-instant-polls  /connect/state answers at once with the current state (4 before a scan,
                    2 on every poll while scanned) instead of holding the poll
  --sso-poll-cookies N  every /connect/state reply sets N new cookies of 1000 bytes (a flood;
                    N up to about 60 fits the 64 KiB reply head a client reads)
  --tls-port N      also serve HTTPS on 127.0.0.1:N (0: pick a free one), forwarding to the
                    plain port; needs --tls-cert and --tls-key
  --tls-cert FILE   PEM certificate chain for --tls-port (leaf first)
  --tls-key FILE    PEM private key for --tls-port
  -h, --help        show this help";

fn main() -> ExitCode {
    let (Args { port, tls }, config) = match parse_args(std::env::args().skip(1)) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => {
            // Not println!: a closed pipe (`--help | head`) must not panic.
            let _ = writeln!(std::io::stdout(), "{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("ustb-emulator: {msg}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let emulator = match Emulator::start(config, &format!("127.0.0.1:{port}")) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("ustb-emulator: cannot listen on 127.0.0.1:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout().lock();
    // Scripts wait for this exact line, so it must not sit in a buffer.
    let _ = writeln!(stdout, "ustb-emulator listening on {}", emulator.base_url());
    let _ = stdout.flush();
    if let Some((tls_port, cert, key)) = tls {
        match emulator.serve_tls(&format!("127.0.0.1:{tls_port}"), &cert, &key) {
            Ok(addr) => {
                let _ = writeln!(stdout, "ustb-emulator TLS front on https://{addr}");
                let _ = stdout.flush();
            }
            Err(e) => {
                eprintln!("ustb-emulator: cannot serve TLS on 127.0.0.1:{tls_port}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    drop(stdout);
    loop {
        std::thread::park();
    }
}

struct Args {
    port: u16,
    /// Port, certificate and key files of the TLS front.
    tls: Option<(u16, PathBuf, PathBuf)>,
}

/// `Ok(None)` means help was asked for.
fn parse_args(args: impl Iterator<Item = String>) -> Result<Option<(Args, Config)>, String> {
    let mut config = Config::default();
    let mut port = 0u16;
    let (mut tls_port, mut tls_cert, mut tls_key) = (None, None, None);
    let mut args = args;
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            inline.clone().or_else(|| args.next()).ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--port" => port = number(&flag, &value(&flag)?)?,
            "--chunk-chars" => {
                config.chunk_chars = number(&flag, &value(&flag)?)?;
                if config.chunk_chars == 0 {
                    return Err("--chunk-chars must be at least 1".into());
                }
            }
            "--delay-ms" => config.delay = Duration::from_millis(number(&flag, &value(&flag)?)?),
            "--no-login" if inline.is_none() => config.require_login = false,
            "--login-token" => {
                let token = value(&flag)?;
                if token.is_empty() {
                    return Err("--login-token must not be empty".into());
                }
                config.login_token = Some(token);
            }
            "--sso-qr-script" => config.sso.qr_script = value(&flag)?,
            "--sso-long-poll-ms" => config.sso.long_poll = Duration::from_millis(number(&flag, &value(&flag)?)?),
            "--sso-sms-closed" if inline.is_none() => config.sso.sms_open = false,
            "--sso-failed-polls" => config.sso.failed_polls = number(&flag, &value(&flag)?)?,
            "--sso-real-hosts" if inline.is_none() => config.sso.reply_hosts = Some(ReplyHosts::real()),
            "--sso-instant-polls" if inline.is_none() => config.sso.instant_polls = true,
            "--sso-poll-cookies" => config.sso.poll_cookies = number(&flag, &value(&flag)?)?,
            "--tls-port" => tls_port = Some(number::<u16>(&flag, &value(&flag)?)?),
            "--tls-cert" => tls_cert = Some(PathBuf::from(value(&flag)?)),
            "--tls-key" => tls_key = Some(PathBuf::from(value(&flag)?)),
            _ => return Err(format!("unknown argument `{arg}`")),
        }
    }
    config.sso.validate().map_err(|e| format!("--sso-qr-script: {e}"))?;
    let tls = match (tls_port, tls_cert, tls_key) {
        (None, None, None) => None,
        (Some(p), Some(c), Some(k)) => Some((p, c, k)),
        _ => return Err("--tls-port, --tls-cert and --tls-key go together".into()),
    };
    Ok(Some((Args { port, tls }, config)))
}

fn number<T: std::str::FromStr>(flag: &str, text: &str) -> Result<T, String> {
    text.parse().map_err(|_| format!("{flag}: `{text}` is not a valid number"))
}

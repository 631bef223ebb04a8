//! Logging in through the university SSO (WeChat QR code or SMS code) to get the
//! `cookie_vjuid_login` cookie. The steps are in docs/PROTOCOL.md section 6; `steps.rs` has
//! the ones both ways share, `qr.rs` and `sms.rs` the rest.
//!
//! A `Login` is used by one thread at a time; a call in progress stops when the token it was
//! given is cancelled. Every error it returns has its secrets (tokens, codes, the phone
//! number, cookies) replaced.

mod hosts;
mod http;
mod jar;
mod lookups;
pub(crate) mod puzzle;
mod qr;
pub(crate) mod qrtext;
mod sms;
mod steps;

use std::time::Duration;

use serde_json::{Map, Value};

use crate::client::{Client, Options};
use crate::error::{Error, Result};
use crate::limits::MAX_URL;
use crate::upstream::envelope::excerpt;

#[doc(hidden)]
pub use lookups::{watch_lookups, LookupLog};
pub use qr::State;

/// The chat platform's application at the SSO.
const ENTITY_ID: &str = "YW2025007";
pub const DEFAULT_SSO_BASE_URL: &str = "https://sso.ustb.edu.cn";
pub const DEFAULT_SIS_BASE_URL: &str = "https://sis.ustb.edu.cn";
/// The login's own options; every other key is a client option (for the client it makes).
const LOGIN_KEYS: &[&str] = &["sso_base_url", "sis_base_url", "ca_file"];
/// A CA file larger than this is refused (a bundle of every root is ~250 KB).
const MAX_CA_FILE_BYTES: u64 = 4 << 20;

/// A login in progress, and its result.
pub struct Login {
    options: Options,
    sso: String,
    sis: String,
    http: http::Http,
    context: Option<steps::Context>,
    qr: Option<qr::Qr>,
    puzzle: Option<sms::Puzzle>,
    phone: Option<String>,
    cookie: Option<String>,
    /// Every secret learned so far: removed from errors.
    secrets: Vec<String>,
}

impl Login {
    /// Parses the options (the client's, plus `sso_base_url`, `sis_base_url`, `ca_file`).
    /// Touches no network.
    pub fn new(options_json: &str) -> Result<Login> {
        let mut map = crate::client::parse_object(options_json)?;
        let mut own = Map::new();
        for key in LOGIN_KEYS {
            if let Some(v) = map.remove(*key) {
                own.insert(key.to_string(), v);
            }
        }
        let options = Options::from_map(&map)?;
        let sso = base_url(&own, "sso_base_url", DEFAULT_SSO_BASE_URL)?;
        let sis = base_url(&own, "sis_base_url", DEFAULT_SIS_BASE_URL)?;
        let roots = match own.get("ca_file") {
            None | Some(Value::Null) => None,
            Some(Value::String(path)) => Some(read_ca_file(path)?),
            Some(_) => return Err(Error::invalid_argument("option \"ca_file\" must be a string")),
        };
        let http = http::Http::new(http::HttpConfig {
            connect_timeout: Duration::from_millis(options.connect_timeout_ms),
            idle_timeout: Duration::from_millis(options.idle_timeout_ms),
            max_retries: options.max_retries,
            user_agent: options.user_agent.clone(),
            roots,
            hosts: hosts::Hosts::new(&sso, &sis, &options.base_url),
        });
        Ok(Login {
            options,
            sso,
            sis,
            http,
            context: None,
            qr: None,
            puzzle: None,
            phone: None,
            cookie: None,
            secrets: Vec::new(),
        })
    }

    /// The `cookie_vjuid_login` value, once the login succeeded.
    pub fn cookie(&self) -> Option<&str> {
        self.cookie.as_deref()
    }

    /// A client with the login's options and the new cookie.
    pub fn client(&self) -> Result<Client> {
        let cookie = self.logged_in()?;
        let mut options = self.options.clone();
        options.cookies.vjuid_login = Some(cookie.to_string());
        Ok(Client::new(options))
    }

    /// Gives `client` the new cookie (its other settings stay).
    pub fn install(&self, client: &Client) -> Result<()> {
        client.wire.set_vjuid_login(self.logged_in()?.to_string());
        Ok(())
    }

    fn logged_in(&self) -> Result<&str> {
        self.cookie().ok_or_else(|| Error::invalid_argument("not logged in yet: the login has not succeeded"))
    }

    /// Remembers a secret so no error shows it.
    fn secret(&mut self, value: &str) {
        if !value.is_empty() && !self.secrets.iter().any(|s| s == value) {
            self.secrets.push(value.to_string());
        }
    }

    /// `e` without any secret this login knows.
    fn redact(&self, e: Error) -> Error {
        let mut secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        secrets.extend(self.http.cookie_values());
        secrets.extend(self.cookie.as_deref());
        e.redact(&secrets)
    }
}

fn base_url(own: &Map<String, Value>, key: &str, default: &str) -> Result<String> {
    let url = match own.get(key) {
        None | Some(Value::Null) => return Ok(default.to_string()),
        Some(Value::String(s)) => s.trim().trim_end_matches('/'),
        Some(_) => return Err(Error::invalid_argument(format!("option {key:?} must be a string"))),
    };
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(host)
            if url.len() <= MAX_URL
                && !host.is_empty()
                && !host.contains(|c: char| c.is_whitespace() || c.is_control() || "/?#".contains(c)) =>
        {
            Ok(url.to_string())
        }
        _ => {
            Err(Error::invalid_argument(format!("option {key:?} must be http(s)://host[:port] (got {})", excerpt(url))))
        }
    }
}

/// The certificates of a PEM file, to trust instead of the bundled roots.
fn read_ca_file(path: &str) -> Result<Vec<ureq::tls::Certificate<'static>>> {
    use std::io::Read;
    let bad = |what: String| Error::invalid_argument(format!("ca_file {}: {what}", excerpt(path)));
    let file = std::fs::File::open(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    // Read with a bound, not by the size the file claims: a device (/dev/zero) claims 0.
    let mut pem = Vec::new();
    file.take(MAX_CA_FILE_BYTES + 1).read_to_end(&mut pem).map_err(|e| bad(format!("cannot read it: {e}")))?;
    if pem.len() as u64 > MAX_CA_FILE_BYTES {
        return Err(bad(format!("larger than {MAX_CA_FILE_BYTES} bytes")));
    }
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => return Err(bad(format!("not valid PEM: {e}"))),
        }
    }
    if certs.is_empty() {
        return Err(bad("holds no certificate (expected PEM, -----BEGIN CERTIFICATE-----)".into()));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn options_split_between_login_and_client() {
        let login =
            Login::new(r#"{"base_url":"http://127.0.0.1:9","sso_base_url":"http://127.0.0.1:9/","model":"DeepSeek"}"#)
                .unwrap();
        assert_eq!(login.sso, "http://127.0.0.1:9");
        assert_eq!(login.sis, DEFAULT_SIS_BASE_URL);
        assert_eq!(login.options.base_url, "http://127.0.0.1:9");
        for bad in [
            r#"{"sso_base_url":"ftp://x"}"#,
            r#"{"sis_base_url":"https://"}"#,
            r#"{"sso_base_url":"https://h/p"}"#,
            r#"{"ca_file":5}"#,
            r#"{"ca_file":"/nonexistent/ca.pem"}"#,
            r#"{"ca_file":"/dev/zero"}"#,
            r#"{"ca_file":"tests/tls/server.key"}"#,
            r#"{"bogus":1}"#,
            "[]",
            "{",
        ] {
            let err = Login::new(bad).err().unwrap_or_else(|| panic!("{bad} accepted"));
            assert_eq!(err.kind, ErrorKind::InvalidArgument, "{bad}");
        }
        assert!(Login::new("{}").unwrap().client().is_err());
    }
}

//! The one error type of the safe API. The C boundary maps `ErrorKind` to `ustb_status`.

use std::fmt;

/// What went wrong, in the categories a caller can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A NULL pointer, invalid UTF-8, malformed JSON or a bad option.
    InvalidArgument,
    /// The chat request cannot be turned into something the server accepts.
    InvalidRequest,
    /// No connection could be made (refused, unreachable, unknown host).
    Connect,
    /// Connect timeout, silence longer than the idle timeout, or the whole-request deadline.
    Timeout,
    /// The connection broke while the reply was being read (reset, body cut short).
    ConnectionLost,
    /// The server answered with an HTTP status other than 2xx.
    HttpStatus,
    /// The server answered with a JSON envelope whose `e` is not 0.
    Api,
    /// The server says the caller is not logged in (`e = 10042`).
    Auth,
    /// The reply is not what the protocol says (bad SSE, bad JSON, unexpected shape).
    Protocol,
    /// The event stream ended cleanly but before any `finish_reason`.
    Truncated,
    /// A reply line or event exceeded the memory cap.
    TooLarge,
    /// The stream was cancelled by the caller.
    Cancelled,
    /// A panic inside the library was caught at the boundary.
    Panic,
}

impl ErrorKind {
    /// Stable snake_case name, used as `type` in the JSON detail.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "invalid_argument",
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::Connect => "connect_error",
            ErrorKind::Timeout => "timeout",
            ErrorKind::ConnectionLost => "connection_lost",
            ErrorKind::HttpStatus => "http_status",
            ErrorKind::Api => "api_error",
            ErrorKind::Auth => "auth_error",
            ErrorKind::Protocol => "protocol_error",
            ErrorKind::Truncated => "truncated",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Panic => "panic",
        }
    }
}

/// How to get a new login cookie, said wherever the server asks for a login (a macro so that
/// `upstream::http::LOGIN_HINT` can `concat!` the same words).
macro_rules! relogin {
    () => {
        "log in again (`ustb-chat --login`, or the ustb_login_* functions) and pass the new cookie as the vjuid_login option"
    };
}
pub(crate) use relogin;

pub const RELOGIN: &str = relogin!();

/// An error with a readable message and, where the server said something, its words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    /// Upstream envelope code `e`, when the server sent one.
    pub api_code: Option<i64>,
    /// Upstream envelope message `m`, when the server sent one.
    pub api_message: Option<String>,
    /// HTTP status of the reply, when one was received.
    pub http_status: Option<u16>,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error { kind, message: message.into(), api_code: None, api_message: None, http_status: None }
    }

    /// An error from an upstream envelope with `e != 0`; 10042 means "not logged in".
    pub fn from_envelope(e: i64, m: &str, http_status: Option<u16>) -> Error {
        let kind = if e == 10042 { ErrorKind::Auth } else { ErrorKind::Api };
        let message = if kind == ErrorKind::Auth {
            format!("not logged in: the login expired or is missing (server said e={e}, m={m:?}); {RELOGIN}")
        } else {
            format!("server refused the request: e={e}, m={m:?}")
        };
        Error { kind, message, api_code: Some(e), api_message: Some(m.to_string()), http_status }
    }

    pub fn invalid_argument(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    pub fn invalid_request(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidRequest, message)
    }

    pub fn protocol(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Protocol, message)
    }

    pub fn cancelled() -> Error {
        Error::new(ErrorKind::Cancelled, "the request was cancelled")
    }

    /// The detail as JSON: `{"type","message","e","m","http_status"}` (absent values are null).
    pub fn detail_json(&self) -> String {
        serde_json::json!({
            "type": self.kind.name(),
            "message": self.message,
            "e": self.api_code,
            "m": self.api_message,
            "http_status": self.http_status,
        })
        .to_string()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Carries a library error through `Read` (kind `Other`, never `Interrupted`).
impl From<Error> for std::io::Error {
    fn from(e: Error) -> std::io::Error {
        std::io::Error::other(e)
    }
}

impl Error {
    /// The library error inside an `io::Error` made by `From<Error>`, else a lost connection.
    pub fn from_io(e: std::io::Error) -> Error {
        match e.get_ref().and_then(|inner| inner.downcast_ref::<Error>()) {
            Some(inner) => inner.clone(),
            None => Error::new(ErrorKind::ConnectionLost, format!("the connection broke during the reply: {e}")),
        }
    }

    pub fn too_large(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::TooLarge, message)
    }

    /// Replaces every form of each secret (see `crate::redact::forms`: as is, escaped,
    /// percent-encoded, base64) in the texts this error reports, and a form's start left at the
    /// end of a cut excerpt. Secrets shorter than `redact::MIN_SECRET` are left alone: they
    /// would match ordinary words.
    pub fn redact(mut self, secrets: &[&str]) -> Error {
        self.message = crate::redact::redact_text(&self.message, secrets);
        if let Some(m) = self.api_message.take() {
            self.api_message = Some(crate::redact::redact_text(&m, secrets));
        }
        self
    }
}

pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_covers_whole_escaped_and_cut_secrets() {
        let secret = "Sekret\"Value-42abc";
        let mut e = Error::new(ErrorKind::Protocol, format!("body: {secret} and {secret:?}"));
        e.api_message = Some(format!("m={secret}"));
        let e = e.redact(&[secret, "ab"]);
        assert!(!e.message.contains("Sekret"), "{}", e.message);
        assert!(!e.api_message.as_deref().unwrap().contains("Sekret"));
        assert!(e.message.contains("<redacted>"));
        // An excerpt cut inside the secret leaves only its start: that goes too.
        let cut = Error::new(ErrorKind::Protocol, "x=\"Sekret\\\"Va\"…").redact(&[secret]);
        assert!(!cut.message.contains("Sekret"), "{}", cut.message);
        // Short values are left alone (they would match ordinary words).
        let short = Error::new(ErrorKind::Protocol, "ab cd").redact(&["ab"]);
        assert_eq!(short.message, "ab cd");
    }
}

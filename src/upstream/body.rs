//! A reply body being read: each read enters the request's cancel scope and maps its own
//! failures, so the layers above see bytes or a library `Error` (inside the `io::Error`, see
//! `Error::from_io`) and nothing of ureq.

use std::io::{self, Read};

use super::transport::{CancelScope, CancelToken};
use crate::error::{Error, ErrorKind, Result};

pub struct Body {
    reader: ureq::BodyReader<'static>,
    token: CancelToken,
    /// Capture mode: each read is recorded; written out when the body is dropped.
    exchange: Option<super::record::Exchange>,
}

impl Body {
    pub(crate) fn new(
        reader: ureq::BodyReader<'static>,
        token: CancelToken,
        exchange: Option<super::record::Exchange>,
    ) -> Body {
        Body { reader, token, exchange }
    }

    /// Reads the whole (non-stream) body, up to `limit` bytes.
    pub fn read_all(mut self, limit: usize) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            match self.read(&mut chunk) {
                Ok(0) => return Ok(out),
                Ok(n) => {
                    if out.len() + n > limit {
                        return Err(Error::new(
                            ErrorKind::TooLarge,
                            format!("the reply body exceeds the {limit}-byte limit"),
                        ));
                    }
                    out.extend_from_slice(&chunk[..n]);
                }
                Err(e) => return Err(Error::from_io(e)),
            }
        }
    }
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.token.is_cancelled() {
            return Err(Error::cancelled().into());
        }
        let _scope = CancelScope::enter(&self.token);
        let result = self.reader.read(buf).map_err(|e| body_error(e, &self.token));
        if let Some(x) = self.exchange.as_mut() {
            match &result {
                Ok(0) => x.end(Ok(())),
                Ok(n) => x.read(&buf[..*n]),
                Err(e) => x.end(Err(e)),
            }
        }
        result.map_err(Into::into)
    }
}

/// Maps a failure while the reply body is read (after the headers arrived).
fn body_error(e: io::Error, token: &CancelToken) -> Error {
    if token.is_cancelled() {
        return Error::cancelled();
    }
    // ureq wraps its own errors (timeouts, bad chunking) in io::Error.
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<ureq::Error>());
    match inner {
        Some(ureq::Error::Timeout(t)) => super::http::timeout_error(*t),
        // Framing the server got wrong (e.g. a chunk size that does not match its bytes).
        Some(ureq::Error::Protocol(p)) => Error::protocol(format!("the reply's HTTP framing is malformed: {p}")),
        Some(ureq::Error::Io(io)) => {
            Error::new(ErrorKind::ConnectionLost, format!("the connection broke during the reply: {io}"))
        }
        _ => match e.kind() {
            io::ErrorKind::TimedOut => super::http::timeout_error(ureq::Timeout::PerRead),
            _ => Error::new(ErrorKind::ConnectionLost, format!("the connection broke during the reply: {e}")),
        },
    }
}

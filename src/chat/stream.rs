//! One chat reply being read: sends the request on first use, then turns upstream events
//! into OpenAI chunks one at a time. A JSON reply instead of SSE is an error envelope or a
//! moderation block (a short normal completion, `finish_reason: "content_filter"`).

use std::sync::Arc;

use serde_json::Value;

use super::decode::{Decoder, Delta, Usage};
use super::output::{ChunkWriter, Completion};
use super::request::UpstreamRequest;
use super::tools::ToolStage;
use crate::error::{Error, Result};
use crate::log::StreamStats;
use crate::sse::{EventReader, ReadError};
use crate::upstream::body::Body;
use crate::upstream::envelope::excerpt;
use crate::upstream::http::LOGIN_HINT;
use crate::upstream::multipart::{self, Multipart};
use crate::upstream::{CancelToken, Envelope, Wire, CHAT_PATH};

enum State {
    NotSent(Multipart),
    Reading(Box<EventReader<Body>>),
    /// Body done; what is left are queued chunks.
    Drained,
    Failed(Error),
}

pub struct ChatStream {
    wire: Arc<Wire>,
    token: CancelToken,
    state: State,
    decoder: Decoder,
    writer: ChunkWriter,
    /// Reported by the server at any point; handed out at the end.
    usage: Option<Usage>,
    /// The most `collect` holds (`Completion::bytes`).
    max_reply_bytes: u64,
    /// Timings and counts for the log line at the end.
    stats: StreamStats,
    /// With tools: turns the markup in the content into tool calls.
    tools: Option<ToolStage>,
}

impl ChatStream {
    /// Prepares the stream; nothing is sent until the first `next_delta`/`next_chunk`.
    pub fn new(wire: Arc<Wire>, req: &UpstreamRequest, max_reply_bytes: u64) -> ChatStream {
        let fields = req.form_fields();
        let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        ChatStream {
            wire,
            token: CancelToken::default(),
            state: State::NotSent(multipart::encode(&refs)),
            decoder: Decoder::new(),
            writer: ChunkWriter::new(&req.model_name, req.include_usage),
            usage: None,
            max_reply_bytes,
            stats: StreamStats::default(),
            tools: req.parse_tool_calls.then(|| ToolStage::new(req.tool_names.iter().cloned(), &req.history_calls)),
        }
    }

    /// A handle that cancels this stream from any thread.
    pub fn cancel_token(&self) -> CancelToken {
        self.token.clone()
    }

    /// The next chunk JSON, `Ok(None)` at the end. After an error, the same error again.
    pub fn next_chunk(&mut self) -> Result<Option<String>> {
        let mut out = Vec::new();
        Ok(self.next_chunk_into(&mut out)?.then(|| String::from_utf8(out).expect("serde_json writes UTF-8")))
    }

    /// `next_chunk` written into `out` (cleared first, so one buffer can serve every chunk);
    /// false at the end.
    pub fn next_chunk_into(&mut self, out: &mut Vec<u8>) -> Result<bool> {
        loop {
            match self.next_delta()? {
                Some(delta) => {
                    if self.writer.delta_chunk_into(&delta, out) {
                        return Ok(true);
                    }
                }
                // The usage chunk comes last, once.
                None => return Ok(self.writer.usage_chunk_into(self.usage.take(), out)),
            }
        }
    }

    /// Reads the (rest of the) reply into a `chat.completion` JSON.
    pub fn collect(&mut self) -> Result<String> {
        let mut completion = Completion::default();
        let limit = usize::try_from(self.max_reply_bytes).unwrap_or(usize::MAX);
        while let Some(delta) = self.next_delta()? {
            completion.add(delta);
            if completion.bytes() > limit {
                let e = Error::too_large(format!(
                    "the reply exceeds max_reply_bytes ({limit} bytes); raise the option or read it as a stream"
                ));
                self.fail(e.clone());
                return Err(e);
            }
        }
        completion.usage = self.usage;
        Ok(completion.to_json(self.writer.id(), self.writer.created(), self.writer.model()))
    }

    /// The next delta that carries something, `Ok(None)` at the end; counted for the log.
    fn next_delta(&mut self) -> Result<Option<Delta>> {
        let delta = self.tool_delta()?;
        match &delta {
            Some(d) => self.stats.chunk(d.content.len() + d.reasoning.len()),
            None => self.stats.ended(),
        }
        Ok(delta)
    }

    /// With tools, the deltas after the tool stage; without, those of the decoder.
    fn tool_delta(&mut self) -> Result<Option<Delta>> {
        if self.tools.is_none() {
            return self.read_delta();
        }
        loop {
            // What one long event holds is handed out a slice at a time: a cancel stops it too.
            self.check_cancel();
            if let State::Failed(e) = &self.state {
                return Err(e.clone());
            }
            if let Some(d) = self.tools.as_mut().and_then(ToolStage::pop) {
                return Ok(Some(d));
            }
            let next = self.read_delta()?;
            let stage = self.tools.as_mut().expect("checked above");
            match next {
                Some(d) => stage.push(d),
                None => {
                    stage.end();
                    return Ok(stage.pop());
                }
            }
        }
    }

    /// The next delta from the decoder that carries something, `Ok(None)` at the end.
    fn read_delta(&mut self) -> Result<Option<Delta>> {
        loop {
            // Also between events: a server flooding empty events must not outrun a cancel.
            self.check_cancel();
            let step = match &mut self.state {
                State::Failed(e) => return Err(e.clone()),
                State::Drained => return Ok(None),
                State::NotSent(form) => {
                    let form = std::mem::take(form);
                    self.start(form)
                }
                State::Reading(reader) => match reader.next_event_ref() {
                    Ok(Some(event)) => self.decoder.feed(event.data).map(Some),
                    Ok(None) => {
                        let mid = reader.ended_mid_event();
                        self.drain();
                        self.decoder.finish(mid).map(Some)
                    }
                    Err(ReadError::Io(e)) => Err(Error::from_io(e)),
                    Err(ReadError::Parse(e)) => Err(e),
                },
            };
            match step {
                Ok(Some(mut delta)) => {
                    // Usage belongs in the last chunk, whenever the server sent it.
                    if let Some(u) = delta.usage.take() {
                        self.usage = Some(u);
                    }
                    if !delta.is_empty() {
                        return Ok(Some(delta));
                    }
                    if self.decoder.ended() && matches!(self.state, State::Reading(_)) {
                        // `[DONE]` or a final `e = 1`: stop reading, whatever follows.
                        self.drain();
                        match self.decoder.finish(false) {
                            Ok(d) if !d.is_empty() => return Ok(Some(d)),
                            Ok(_) => {}
                            Err(e) => self.fail(e),
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    let e = if self.token.is_cancelled() { Error::cancelled() } else { e };
                    self.fail(e);
                }
            }
        }
    }

    /// A cancel wins over anything not yet read, but not over a reply already complete.
    fn check_cancel(&mut self) {
        if self.token.is_cancelled() && !matches!(self.state, State::Drained | State::Failed(_)) {
            self.fail(Error::cancelled());
        }
    }

    fn drain(&mut self) {
        self.token.release();
        self.state = State::Drained;
    }

    fn fail(&mut self, e: Error) {
        self.token.release();
        let e = self.wire.redact(e);
        self.stats.failed(&e);
        self.state = State::Failed(e);
    }

    /// Sends the request and sets up reading the reply.
    fn start(&mut self, form: Multipart) -> Result<Option<Delta>> {
        self.stats.sending();
        let reply = self.wire.send("POST", CHAT_PATH, Some(&form), &self.token)?;
        self.stats.headers();
        let reply = reply.check_status()?;
        if reply.is_event_stream() {
            self.state = State::Reading(Box::new(EventReader::new(reply.body)));
            return Ok(None);
        }
        let html = reply.is_html();
        let body = reply.body.read_all(crate::limits::MAX_JSON_REPLY_BYTES)?;
        self.drain();
        if html || body.trim_ascii_start().starts_with(b"<") {
            // What an expired campus login can look like: the sign-in page, with status 200.
            return Err(Error::protocol(format!(
                "the server answered with an HTML page instead of a chat reply ({LOGIN_HINT}): {}",
                excerpt(&String::from_utf8_lossy(&body))
            )));
        }
        moderation_or_error(&body).map(Some)
    }
}

impl Drop for ChatStream {
    /// A canceller may outlive the stream: leave it nothing to shut down.
    fn drop(&mut self) {
        self.token.release();
        match self.state {
            State::Drained => self.stats.ended(),
            _ => self.stats.dropped(),
        }
    }
}

/// A JSON reply to a chat: `e != 0` is an error; `d.answer` is a moderation block.
fn moderation_or_error(body: &[u8]) -> Result<Delta> {
    let text = std::str::from_utf8(body).map_err(|_| Error::protocol("reply is not UTF-8"))?;
    // A logged-out reply sometimes comes inside a `data:` line.
    let json = text.trim().strip_prefix("data:").map(str::trim).unwrap_or(text);
    let data = Envelope::parse(json)?.into_data(Some(200))?;
    match data.get("answer") {
        Some(Value::String(answer)) => {
            Ok(Delta { content: answer.clone(), finish_reason: Some("content_filter".into()), ..Delta::default() })
        }
        _ => Err(Error::protocol(format!("chat reply is neither an event stream nor an answer: {}", excerpt(json)))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn vector(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    #[test]
    fn moderation_vector_is_a_short_completion() {
        let d = moderation_or_error(&vector("reply-moderation.json")).unwrap();
        assert_eq!(d.content, "抱歉，我无法回答这个问题，让我们换个话题再聊聊吧");
        assert_eq!(d.finish_reason.as_deref(), Some("content_filter"));
    }

    #[test]
    fn json_errors() {
        let e = moderation_or_error(&vector("reply-4028.json")).unwrap_err();
        assert_eq!((e.kind, e.api_code), (ErrorKind::Api, Some(4028)));
        let e = moderation_or_error(&vector("reply-10042.json")).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Auth);
        let e = moderation_or_error(b"data: {\"e\":10042,\"m\":\"\xe8\xaf\xb7\xe7\x99\xbb\xe5\xbd\x95\",\"d\":[]}")
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Auth);
        assert_eq!(moderation_or_error(b"<html>").unwrap_err().kind, ErrorKind::Protocol);
        assert_eq!(moderation_or_error(b"{\"e\":0,\"m\":\"\",\"d\":[]}").unwrap_err().kind, ErrorKind::Protocol);
    }
}

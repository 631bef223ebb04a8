//! The fake SSO's memory: login contexts, QR sessions, puzzles, SMS and one-use codes.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::script::{Action, Script};
use crate::emulator::util::{random_alnum32, random_hex32};
use crate::emulator::SsoConfig;

/// One login started at step 1 (`lck`).
pub(crate) struct Context {
    pub redirect_uri: String,
    pub qr_chain: String,
    pub sms_chain: String,
    /// Phone → SMS code sent for this login.
    pub sms: HashMap<String, String>,
}

/// One reported state of a QR session.
#[derive(Clone, Copy)]
struct Event {
    at: Instant,
    action: Action,
}

/// One QR session (`sid`).
struct QrSession {
    lck: String,
    /// What will happen, in time order; ends with a final action.
    events: Vec<Event>,
    /// How many events this sid was told about.
    told: usize,
    pass: String,
    pass_used: bool,
}

/// What a poll of `/connect/state` gets now.
pub(crate) enum Poll {
    /// `code` and, for a confirmation, the pass code.
    Report(i64, Option<String>),
    /// Nothing new: wait until this instant (then ask again).
    Wait(Instant),
    Unknown,
}

pub(crate) struct SsoState {
    pub config: SsoConfig,
    script: Script,
    /// QR sessions created under the current script.
    qr_count: usize,
    pub contexts: HashMap<String, Context>,
    /// randomToken (step 3) → lck.
    pub rand_tokens: HashMap<String, String>,
    qr: HashMap<String, QrSession>,
    /// Puzzle token → the piece's place (x, y) (one use).
    pub puzzles: HashMap<String, (u32, u32)>,
    /// Phone → last successful send.
    pub last_sms: HashMap<String, Instant>,
    /// loginToken (SMS step 6') → lck, one use.
    pub login_tokens: HashMap<String, String>,
    /// Destination ticket → lck, one use.
    pub tickets: HashMap<String, String>,
    /// Authorization code → lck, one use.
    pub codes: HashMap<String, String>,
    /// Cookies set by `poll_cookies` so far.
    cookies_set: u64,
}

impl SsoState {
    pub(crate) fn new(config: &SsoConfig) -> Result<SsoState, String> {
        Ok(SsoState {
            config: config.clone(),
            script: Script::parse(&config.qr_script)?,
            qr_count: 0,
            contexts: HashMap::new(),
            rand_tokens: HashMap::new(),
            qr: HashMap::new(),
            puzzles: HashMap::new(),
            last_sms: HashMap::new(),
            login_tokens: HashMap::new(),
            tickets: HashMap::new(),
            codes: HashMap::new(),
            cookies_set: 0,
        })
    }

    /// Replaces the script and restarts phase counting.
    pub(crate) fn set_script(&mut self, text: &str) -> Result<(), String> {
        self.script = Script::parse(text)?;
        self.qr_count = 0;
        Ok(())
    }

    pub(crate) fn new_context(&mut self, redirect_uri: &str) -> String {
        let lck = format!("context_oauth2_{}", random_alnum32());
        let context = Context {
            redirect_uri: redirect_uri.to_string(),
            qr_chain: random_hex32(),
            sms_chain: random_hex32(),
            sms: HashMap::new(),
        };
        self.contexts.insert(lck.clone(), context);
        lck
    }

    /// A new QR session for `lck`, following the script's next phase; returns its sid.
    pub(crate) fn new_qr(&mut self, lck: &str) -> String {
        let now = Instant::now();
        let mut events = Vec::new();
        for &(action, after) in self.script.phase(self.qr_count) {
            events.push(Event { at: now + after, action });
            if action.is_final() {
                break;
            }
        }
        self.qr_count += 1;
        let expiry = now + self.config.qr_lifetime;
        let ends = events.last().is_some_and(|e| e.action.is_final() && e.at <= expiry);
        if !ends {
            events.retain(|e| e.at < expiry);
            events.push(Event { at: expiry, action: Action::Expire });
        }
        let sid = random_alnum32();
        let session = QrSession { lck: lck.to_string(), events, told: 0, pass: random_alnum32(), pass_used: false };
        self.qr.insert(sid.clone(), session);
        sid
    }

    pub(crate) fn qr_exists(&self, sid: &str) -> bool {
        self.qr.contains_key(sid)
    }

    /// The next state change this sid has not been told yet, if it is due.
    pub(crate) fn poll(&mut self, sid: &str, now: Instant) -> Poll {
        let Some(s) = self.qr.get_mut(sid) else {
            return Poll::Unknown;
        };
        // Final changes repeat on every later poll.
        let i = s.told.min(s.events.len() - 1);
        let e = s.events[i];
        if e.at > now {
            return Poll::Wait(e.at);
        }
        if !e.action.is_final() || s.told == i {
            s.told = i + 1;
        }
        let data = (e.action == Action::Confirm).then(|| s.pass.clone());
        Poll::Report(e.action.code(), data)
    }

    /// The state this sid is in now, changed or not (`instant_polls`): `4` before anything
    /// happened, then the last event's code (a scan keeps answering `2`).
    pub(crate) fn current(&mut self, sid: &str, now: Instant) -> Poll {
        let Some(s) = self.qr.get_mut(sid) else {
            return Poll::Unknown;
        };
        let Some(i) = s.events.iter().rposition(|e| e.at <= now) else {
            return Poll::Report(4, None);
        };
        s.told = s.told.max(i + 1);
        let e = s.events[i];
        Poll::Report(e.action.code(), (e.action == Action::Confirm).then(|| s.pass.clone()))
    }

    /// Names for `n` new cookies, never used before (`poll_cookies`).
    pub(crate) fn new_cookie_names(&mut self, n: u32) -> Vec<String> {
        let first = self.cookies_set;
        self.cookies_set += u64::from(n);
        (first..self.cookies_set).map(|k| format!("flood{k}")).collect()
    }

    /// Step 7: a confirmed session of `lck` with this pass code; the code works once.
    pub(crate) fn take_pass(&mut self, lck: &str, pass: &str, now: Instant) -> bool {
        let found = self.qr.values_mut().find(|s| {
            let confirmed = s.events.iter().any(|e| e.action == Action::Confirm && e.at <= now);
            s.lck == lck && confirmed && !s.pass_used && s.pass == pass
        });
        found.map(|s| s.pass_used = true).is_some()
    }

    /// A destination ticket for `lck`.
    pub(crate) fn new_ticket(&mut self, lck: &str) -> String {
        let ticket = random_alnum32();
        self.tickets.insert(ticket.clone(), lck.to_string());
        ticket
    }

    /// Whether `phone` got an SMS less than the interval ago.
    pub(crate) fn sms_too_soon(&self, phone: &str, now: Instant) -> bool {
        self.last_sms.get(phone).is_some_and(|&t| now.duration_since(t) < self.config.sms_interval)
    }

    /// Whether this state poll is one of the configured failures (each counts once).
    pub(crate) fn poll_fails(&mut self) -> bool {
        let fail = self.config.failed_polls > 0;
        self.config.failed_polls = self.config.failed_polls.saturating_sub(1);
        fail
    }

    pub(crate) fn long_poll(&self) -> Duration {
        self.config.long_poll
    }
}

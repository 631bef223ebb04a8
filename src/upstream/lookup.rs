//! Name lookups the caller can abandon: the system's lookup (`getaddrinfo`) cannot be
//! interrupted, so it runs on a helper thread and the caller waits in short slices, giving up
//! at its deadline or on a cancel. An abandoned lookup ends on its own and its thread exits.
//! Callers that ask for a name while a lookup of it runs wait for that lookup instead of
//! starting another, so retries against a hanging resolver do not pile up threads.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How often a waiting caller looks at its cancel flag.
const POLL: Duration = Duration::from_millis(10);
/// At most this many names are looked up at once (abandoned lookups included).
const MAX_RUNNING: usize = 32;

/// Why a lookup gave no address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupError {
    /// The resolver answered: no such name, or it failed (its words).
    Failed(String),
    /// The resolver could not be asked (too many lookups waiting, no thread to run one).
    Unavailable(String),
    /// No answer within the time allowed.
    TimedOut(Duration),
    Cancelled,
}

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LookupError::Failed(why) | LookupError::Unavailable(why) => f.write_str(why),
            LookupError::TimedOut(t) => write!(f, "no answer within connect_timeout_ms ({} ms)", t.as_millis()),
            LookupError::Cancelled => f.write_str("cancelled"),
        }
    }
}

/// One lookup in progress, shared by every caller waiting for it.
#[derive(Default)]
struct Pending {
    result: Mutex<Option<Result<Vec<IpAddr>, String>>>,
    done: Condvar,
}

static RUNNING: Mutex<Option<HashMap<String, Arc<Pending>>>> = Mutex::new(None);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The addresses of `host` (a name, or an IP address without brackets) with `port`. Waits at
/// most `timeout` (None: as long as the resolver takes) and returns soon after `cancelled()`
/// turns true.
pub fn lookup(
    host: &str,
    port: u16,
    timeout: Option<Duration>,
    cancelled: &dyn Fn() -> bool,
) -> Result<Vec<SocketAddr>, LookupError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let pending = start(host, MAX_RUNNING)?;
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut result = lock(&pending.result);
    loop {
        if let Some(r) = &*result {
            let ips = r.clone().map_err(LookupError::Failed)?;
            return Ok(ips.into_iter().map(|ip| SocketAddr::new(ip, port)).collect());
        }
        if cancelled() {
            return Err(LookupError::Cancelled);
        }
        let mut slice = POLL;
        if let (Some(deadline), Some(timeout)) = (deadline, timeout) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(LookupError::TimedOut(timeout));
            }
            slice = slice.min(left);
        }
        result = pending.done.wait_timeout(result, slice).unwrap_or_else(|p| p.into_inner()).0;
    }
}

/// The running lookup of `host`, or a new one on its own thread if fewer than `cap` run.
fn start(host: &str, cap: usize) -> Result<Arc<Pending>, LookupError> {
    let mut running = lock(&RUNNING);
    let running = running.get_or_insert_with(HashMap::new);
    if let Some(p) = running.get(host) {
        return Ok(p.clone());
    }
    if running.len() >= cap {
        let why = format!("{cap} host name lookups are already waiting for the system's resolver");
        return Err(LookupError::Unavailable(why));
    }
    let pending = Arc::new(Pending::default());
    let (name, shared) = (host.to_string(), pending.clone());
    std::thread::Builder::new()
        .name("ustb-lookup".into())
        .spawn(move || {
            let answer = (name.as_str(), 0).to_socket_addrs();
            let answer = answer.map(|a| a.map(|s| s.ip()).collect()).map_err(|e| e.to_string());
            if let Some(running) = lock(&RUNNING).as_mut() {
                running.remove(&name);
            }
            *lock(&shared.result) = Some(answer);
            shared.done.notify_all();
        })
        .map_err(|e| LookupError::Unavailable(format!("cannot start the host name lookup: {e}")))?;
    running.insert(host.to_string(), pending.clone());
    Ok(pending)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_need_no_thread_and_names_resolve() {
        let never = || false;
        assert_eq!(lookup("127.0.0.1", 8, None, &never).unwrap(), vec!["127.0.0.1:8".parse().unwrap()]);
        assert_eq!(lookup("::1", 9, None, &never).unwrap(), vec!["[::1]:9".parse().unwrap()]);
        let local = lookup("localhost", 80, Some(Duration::from_secs(10)), &never).unwrap();
        assert!(local.iter().all(|a| a.ip().is_loopback() && a.port() == 80), "{local:?}");
    }

    #[test]
    fn a_cancelled_caller_returns_at_once() {
        let started = Instant::now();
        // Cancelled before the wait: whatever the resolver does, the caller does not wait.
        let got = lookup("ustb-lookup-test.invalid", 80, None, &|| true);
        assert!(matches!(got, Err(LookupError::Cancelled) | Err(LookupError::Failed(_))), "{got:?}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn past_the_cap_nothing_is_started() {
        let got = start("ustb-lookup-cap.invalid", 0).map(drop);
        assert!(matches!(&got, Err(LookupError::Unavailable(why)) if why.contains("already waiting")), "{got:?}");
    }
}

//! The login's name lookups and connects, watched: the login agent's resolver notes each name
//! it is asked for and each address it returns, and its connector each new connection it
//! opens, on the calling thread, while a test watches (`watch_lookups`). Every host the login
//! tries to reach passes through both.

use std::cell::RefCell;

use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{ConnectionDetails, Connector, NextTimeout};

use crate::upstream::transport::LookupResolver;

thread_local! {
    static SEEN: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

fn note(entry: impl FnOnce() -> String) {
    SEEN.with(|s| {
        if let Some(seen) = s.borrow_mut().as_mut() {
            seen.push(entry());
        }
    });
}

/// The transport's resolver, watched.
#[derive(Debug, Default)]
pub(crate) struct Watched(LookupResolver);

impl Resolver for Watched {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        note(|| {
            let name = uri.scheme().zip(uri.authority()).and_then(|(s, a)| DefaultResolver::host_and_port(s, a));
            format!("lookup {}", name.unwrap_or_else(|| uri.to_string()))
        });
        let addrs = self.0.resolve(uri, config, timeout)?;
        for addr in addrs.iter() {
            note(|| format!("address {addr}"));
        }
        Ok(addrs)
    }
}

/// A connector (the transport's chain), watched.
#[derive(Debug)]
pub(crate) struct WatchedConnect<C>(pub C);

impl<C: Connector> Connector for WatchedConnect<C> {
    type Out = C::Out;

    fn connect(&self, details: &ConnectionDetails, chained: Option<()>) -> Result<Option<C::Out>, ureq::Error> {
        for addr in details.addrs.iter() {
            note(|| format!("connect {addr}"));
        }
        self.0.connect(details, chained)
    }
}

/// Not API: records, until dropped, every name the login looks up on this thread
/// (`lookup host:port`), every address found (`address ip:port`) and every address a new
/// connection may be opened to (`connect ip:port`).
#[doc(hidden)]
pub struct LookupLog(());

#[doc(hidden)]
pub fn watch_lookups() -> LookupLog {
    SEEN.with(|s| *s.borrow_mut() = Some(Vec::new()));
    LookupLog(())
}

impl LookupLog {
    /// What was seen so far (and forgets it).
    pub fn take(&self) -> Vec<String> {
        SEEN.with(|s| s.borrow_mut().as_mut().map(std::mem::take).unwrap_or_default())
    }
}

impl Drop for LookupLog {
    fn drop(&mut self) {
        SEEN.with(|s| *s.borrow_mut() = None);
    }
}

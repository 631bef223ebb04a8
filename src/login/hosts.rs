//! The hosts a login talks to: the configured SSO, SIS and chat base URLs, nothing else.
//!
//! Replies carry absolute URLs (the QR page, `returnUrl`, redirects, the destination's
//! `locationValue`), and the real servers name their real hosts there. A URL naming a real
//! host or a configured one is moved onto the configured base; any other host is refused
//! before it is looked up, so no reply can send the login (its pass code, its cookies)
//! anywhere the caller did not configure.

use super::http::origin_of;
use super::{DEFAULT_SIS_BASE_URL, DEFAULT_SSO_BASE_URL};
use crate::error::{Error, Result};
use crate::limits::DEFAULT_BASE_URL;
use crate::upstream::envelope::excerpt;

/// sso, sis, chat: the real base URL, the option that replaces it, and `ustb-chat`'s flag.
const ROLES: [(&str, &str, &str); 3] = [
    (DEFAULT_SSO_BASE_URL, "sso_base_url", "--sso-base-url"),
    (DEFAULT_SIS_BASE_URL, "sis_base_url", "--sso-base-url"),
    (DEFAULT_BASE_URL, "base_url", "--base-url"),
];

/// The configured base URLs, in the order of `ROLES`.
#[derive(Clone, Debug)]
pub(crate) struct Hosts([String; 3]);

/// An absolute http(s) URL taken apart.
struct Parts<'a> {
    host: String,
    port: u16,
    /// Path, query and fragment (may be empty).
    rest: &'a str,
}

impl Hosts {
    pub fn new(sso: &str, sis: &str, chat: &str) -> Hosts {
        Hosts([sso.to_string(), sis.to_string(), chat.to_string()])
    }

    /// `url`, from a reply (`what` names it), on a configured base; an error for any other
    /// host (the caller names the step).
    pub fn map(&self, what: &str, url: &str) -> Result<String> {
        let Some(parts) = split(url) else {
            return Err(Error::protocol(format!("{what} is not an http(s) URL with a plain host: {}", excerpt(url))));
        };
        for base in &self.0 {
            if split(base).is_some_and(|b| b.host == parts.host && b.port == parts.port) {
                return Ok(format!("{}{}", origin_of(base), parts.rest));
            }
        }
        for ((real, _, _), base) in ROLES.iter().zip(&self.0) {
            if split(real).is_some_and(|r| r.host == parts.host) {
                return Ok(format!("{base}{}", parts.rest));
            }
        }
        Err(Error::protocol(format!(
            "{what} names the host {}, which is none of the configured ones (sso_base_url, sis_base_url, \
             base_url) nor their real hosts; refused, never contacted",
            excerpt(&parts.host)
        )))
    }

    /// The message for `host` (`host[:port]`, as in a URL) not found in DNS: its name, and
    /// the option that chose it.
    pub fn unresolved(&self, host: &str) -> String {
        let name = split(&format!("http://{host}")).map_or_else(|| host.to_string(), |p| p.host);
        let name = name.as_str();
        let role = self.0.iter().zip(ROLES).find(|(base, _)| split(base).is_some_and(|b| b.host == name));
        let Some((_, (_, option, flag))) = role else {
            return format!("cannot resolve {host} (not found in DNS)");
        };
        if name == "ustb.edu.cn" || name.ends_with(".ustb.edu.cn") {
            format!(
                "cannot resolve {name} (not found in DNS): the university's servers are found only from \
                 the campus network or its VPN; connect to it, or set {option} (ustb-chat {flag}) to a \
                 server you can reach"
            )
        } else {
            format!("cannot resolve {name} (not found in DNS): check {option}")
        }
    }
}

/// Scheme, host (lower case) and port of an absolute http(s) URL, and the rest; `None` for
/// anything else, including user info and characters no host name has.
fn split(url: &str) -> Option<Parts<'_>> {
    let (default_port, after) = [("https://", 443), ("http://", 80)].into_iter().find_map(|(scheme, port)| {
        let head = url.get(..scheme.len())?;
        head.eq_ignore_ascii_case(scheme).then(|| (port, &url[scheme.len()..]))
    })?;
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(end);
    let allowed = |c: char| c.is_ascii_alphanumeric() || ".-:[]".contains(c);
    if authority.is_empty() || !authority.chars().all(allowed) {
        return None;
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !p.contains(']') && (!h.starts_with('[') || h.ends_with(']')) => {
            (h, p.parse().ok()?)
        }
        _ => (authority, default_port),
    };
    Some(Parts { host: host.to_ascii_lowercase(), port, rest })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> Hosts {
        Hosts::new("http://127.0.0.1:8080", "http://127.0.0.1:8080", "http://127.0.0.1:8080")
    }

    #[test]
    fn real_and_configured_hosts_are_mapped_and_others_refused() {
        let hosts = local();
        let map = |url: &str| hosts.map("x", url);
        assert_eq!(map("https://sis.ustb.edu.cn/connect/qrpage").unwrap(), "http://127.0.0.1:8080/connect/qrpage");
        assert_eq!(map("HTTPS://SSO.ustb.edu.cn:443/a?b=1#c").unwrap(), "http://127.0.0.1:8080/a?b=1#c");
        assert_eq!(map("http://chat.ustb.edu.cn").unwrap(), "http://127.0.0.1:8080");
        assert_eq!(map("https://127.0.0.1:8080/p").unwrap(), "http://127.0.0.1:8080/p");
        for bad in [
            "http://localhost:8080/p",
            "http://127.0.0.1:8081/p",
            "http://evil.example/p",
            "http://sso.ustb.edu.cn.evil.example/p",
            "http://user@127.0.0.1:8080/p",
            "http://127.0.0.1:8080\\@evil.example/p",
            "ftp://127.0.0.1:8080/p",
            "javascript:alert(1)",
            "/relative",
        ] {
            let e = map(bad).expect_err(bad);
            assert_eq!(e.kind, crate::error::ErrorKind::Protocol, "{bad}");
        }
        assert!(map("http://evil.example/p").unwrap_err().message.contains("evil.example"));
        // Separate bases: each real host goes to its own.
        let hosts = Hosts::new("https://a.test", "https://b.test:8443", "http://c.test/prefix");
        assert_eq!(hosts.map("x", "https://sis.ustb.edu.cn/q").unwrap(), "https://b.test:8443/q");
        assert_eq!(hosts.map("x", "http://chat.ustb.edu.cn/q").unwrap(), "http://c.test/prefix/q");
        assert_eq!(hosts.map("x", "http://[::1]:80/q").unwrap_err().kind, crate::error::ErrorKind::Protocol);
    }

    #[test]
    fn an_unresolved_host_is_named_with_its_option() {
        let hosts = Hosts::new(DEFAULT_SSO_BASE_URL, "https://sis.example", DEFAULT_BASE_URL);
        let m = hosts.unresolved("sso.ustb.edu.cn");
        assert!(m.contains("sso.ustb.edu.cn") && m.contains("campus") && m.contains("--sso-base-url"), "{m}");
        let m = hosts.unresolved("sis.example:443");
        assert!(m.contains("sis.example") && m.contains("sis_base_url") && !m.contains("campus"), "{m}");
        assert!(hosts.unresolved("other.example").contains("other.example"));
    }
}

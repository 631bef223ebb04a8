//! The login's cookie jar: what the SSO, SIS and chat hosts set, sent back the way a browser
//! would. A cookie belongs to the host that set it, or, with a `Domain` attribute, to that
//! domain and every host under it (e.g. `.ustb.edu.cn` for both sso and sis). Paths, expiry
//! times and `Secure` are not modelled: a login lasts minutes and stays on these hosts.
//!
//! Bounded, as browsers bound theirs: a server that sets new cookies on every reply would
//! otherwise grow every later request's `Cookie` header past what can be sent. Each host keeps
//! its newest cookies within `MAX_PER_HOST` and `MAX_BYTES_PER_HOST` (the oldest go first), so
//! one host's flood never pushes out another's session.

/// Cookies one host may keep, and their bytes (names and values).
const MAX_PER_HOST: usize = 50;
const MAX_BYTES_PER_HOST: usize = 16 << 10;
/// A longer cookie (name and value) is ignored, as browsers do.
const MAX_COOKIE_BYTES: usize = 4096;

struct Cookie {
    /// `host[:port]` of the server that set it.
    setter: String,
    /// The host that set it (no port), or the domain it names.
    scope: String,
    /// True when `scope` is a `Domain` attribute (subdomains match too).
    domain: bool,
    name: String,
    value: String,
}

impl Cookie {
    fn applies_to(&self, host: &str) -> bool {
        host == self.scope || (self.domain && host.strip_suffix(&self.scope).is_some_and(|h| h.ends_with('.')))
    }
}

#[derive(Default)]
pub(crate) struct Jar(Vec<Cookie>);

impl Jar {
    /// Takes one `Set-Cookie` header from `host` (a deletion removes the cookie; a `Domain`
    /// the host is not inside is ignored, as browsers do).
    pub fn set(&mut self, setter: &str, header: &str) {
        let host = without_port(setter);
        let mut parts = header.split(';');
        let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else { return };
        let (name, value) = (name.trim(), value.trim().trim_matches('"'));
        if name.is_empty() || name.len() + value.len() > MAX_COOKIE_BYTES {
            return;
        }
        let (mut scope, mut domain, mut expired) = (host.to_string(), false, value.is_empty());
        for attr in parts {
            let (key, val) = attr.split_once('=').unwrap_or((attr, ""));
            match key.trim().to_ascii_lowercase().as_str() {
                "domain" => {
                    let d = val.trim().trim_start_matches('.').to_ascii_lowercase();
                    if !d.is_empty() {
                        (scope, domain) = (d, true);
                    }
                }
                "max-age" => expired |= val.trim().starts_with('-') || val.trim() == "0",
                _ => {}
            }
        }
        let setter = setter.to_string();
        let cookie = Cookie { setter, scope, domain, name: name.to_string(), value: value.to_string() };
        if cookie.domain && !cookie.applies_to(host) {
            return;
        }
        self.0.retain(|c| !(c.name == cookie.name && c.scope == cookie.scope));
        if !expired {
            let setter = cookie.setter.clone();
            self.0.push(cookie);
            self.trim(&setter);
        }
    }

    /// Drops `setter`'s oldest cookies until its newest fit the bounds.
    fn trim(&mut self, setter: &str) {
        let (mut count, mut bytes) = (0, 0);
        for c in self.0.iter().filter(|c| c.setter == setter) {
            count += 1;
            bytes += c.name.len() + c.value.len();
        }
        let mut i = 0;
        while (count > MAX_PER_HOST || bytes > MAX_BYTES_PER_HOST) && i < self.0.len() {
            if self.0[i].setter == setter {
                let c = self.0.remove(i);
                count -= 1;
                bytes -= c.name.len() + c.value.len();
            } else {
                i += 1;
            }
        }
    }

    /// The value of cookie `name` that `setter` (`host[:port]`) itself set: a cookie another
    /// host set for a shared domain, or the same host on another port, does not count.
    pub fn set_by(&self, setter: &str, name: &str) -> Option<&str> {
        self.0.iter().rev().find(|c| c.name == name && c.setter == setter).map(|c| c.value.as_str())
    }

    /// The `Cookie` header for a request to `host`.
    pub fn header_for(&self, host: &str) -> Option<String> {
        let host = without_port(host);
        let pairs: Vec<String> =
            self.0.iter().filter(|c| c.applies_to(host)).map(|c| format!("{}={}", c.name, c.value)).collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }

    /// The value of cookie `name` that a request to `host` would send.
    #[cfg(test)]
    pub fn get(&self, host: &str, name: &str) -> Option<&str> {
        let host = without_port(host);
        self.0.iter().rev().find(|c| c.name == name && c.applies_to(host)).map(|c| c.value.as_str())
    }

    /// Every value held (secrets, for redaction).
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|c| c.value.as_str())
    }
}

/// `host` of `host[:port]` (also `[v6]:port`), lower-cased by the caller's URL.
fn without_port(host: &str) -> &str {
    match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => host.split(':').next().unwrap_or(host),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_domains_and_deletions() {
        let mut jar = Jar::default();
        jar.set("sso.ustb.edu.cn", "SESSION=abc; Path=/; HttpOnly");
        jar.set("sso.ustb.edu.cn", "shared=1; Domain=.ustb.edu.cn; Path=/");
        jar.set("sso.ustb.edu.cn", "foreign=1; Domain=example.com");
        assert_eq!(jar.header_for("sso.ustb.edu.cn:443").as_deref(), Some("SESSION=abc; shared=1"));
        assert_eq!(jar.header_for("sis.ustb.edu.cn").as_deref(), Some("shared=1"));
        assert_eq!(jar.header_for("evilustb.edu.cn"), None);
        assert_eq!(jar.header_for("example.com"), None);
        jar.set("sso.ustb.edu.cn", "SESSION=new");
        assert_eq!(jar.get("sso.ustb.edu.cn", "SESSION"), Some("new"));
        jar.set("sso.ustb.edu.cn", "SESSION=x; Max-Age=0");
        jar.set("sso.ustb.edu.cn", "shared=; Domain=ustb.edu.cn");
        assert_eq!(jar.header_for("sso.ustb.edu.cn"), None);
        jar.set("127.0.0.1:8080", "cookie_vjuid_login=\"tok\"; path=/");
        assert_eq!(jar.get("127.0.0.1:9", "cookie_vjuid_login"), Some("tok"));
        assert_eq!(jar.get("[::1]:80", "cookie_vjuid_login"), None);
        assert_eq!(jar.values().collect::<Vec<_>>(), ["tok"]);
    }

    #[test]
    fn only_the_host_that_set_a_cookie_vouches_for_it() {
        let mut jar = Jar::default();
        jar.set("sso.ustb.edu.cn", "cookie_vjuid_login=fake; Domain=ustb.edu.cn");
        jar.set("127.0.0.1:9000", "cookie_vjuid_login=other-port");
        // Both would be sent (as a browser would send them) ...
        assert!(jar.get("chat.ustb.edu.cn", "cookie_vjuid_login").is_some());
        assert!(jar.get("127.0.0.1:8080", "cookie_vjuid_login").is_some());
        // ... but neither was set by the chat host.
        assert_eq!(jar.set_by("chat.ustb.edu.cn", "cookie_vjuid_login"), None);
        assert_eq!(jar.set_by("127.0.0.1:8080", "cookie_vjuid_login"), None);
        jar.set("127.0.0.1:8080", "cookie_vjuid_login=real");
        assert_eq!(jar.set_by("127.0.0.1:8080", "cookie_vjuid_login"), Some("real"));
    }

    #[test]
    fn a_flood_keeps_each_hosts_newest_cookies_within_bounds() {
        let mut jar = Jar::default();
        jar.set("sso.ustb.edu.cn", "SESSION=keep");
        let big = "v".repeat(1000);
        for i in 0..87 * 90 {
            jar.set("sis.ustb.edu.cn", &format!("f{i}={}", if i % 2 == 0 { "x" } else { big.as_str() }));
        }
        let sis = jar.header_for("sis.ustb.edu.cn").unwrap();
        assert!(sis.len() <= MAX_BYTES_PER_HOST + 2 * MAX_PER_HOST, "{}", sis.len());
        assert!(sis.ends_with(&format!("f{}={big}", 87 * 90 - 1)), "the newest stays");
        assert!(sis.split("; ").count() <= MAX_PER_HOST);
        // The flooding host pushed out only its own cookies.
        assert_eq!(jar.header_for("sso.ustb.edu.cn").as_deref(), Some("SESSION=keep"));
        jar.set("sso.ustb.edu.cn", &format!("huge={}", "h".repeat(MAX_COOKIE_BYTES)));
        assert_eq!(jar.get("sso.ustb.edu.cn", "huge"), None, "over 4096 bytes: ignored");
    }
}

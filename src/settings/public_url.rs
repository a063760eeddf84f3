//! The portal's public origin (`PUBLIC_URL`): the scheme, host and port users reach it at. Every
//! absolute link and the cross-origin check use it; no request header ever chooses it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use url::{Host, Origin, Url};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    origin: Origin,
    /// `scheme://host[:port]`, without a trailing slash and without a default port.
    serialized: String,
    /// Defaulted from a loopback (or any-address) bind: the other loopback names reach the
    /// same portal, so a developer's `http://localhost:8080` is the same origin.
    loopback_aliases: bool,
}

/// Why a `PUBLIC_URL` is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublicUrlError {
    #[error("is not an absolute URL such as https://portal.example.com")]
    NotAUrl,
    #[error("must start with https:// (or http://)")]
    Scheme,
    #[error("must not contain a user name or password")]
    Credentials,
    #[error("must name its host by a domain name or an IP address")]
    Host,
    #[error("must be an origin only (scheme, host and port): no path, query or fragment")]
    NotAnOrigin,
}

impl PublicUrl {
    /// `https://host[:port]`, with or without a trailing `/`, and nothing else.
    pub fn parse(text: &str) -> Result<PublicUrl, PublicUrlError> {
        let url = Url::parse(text.trim()).map_err(|_| PublicUrlError::NotAUrl)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(PublicUrlError::Scheme);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(PublicUrlError::Credentials);
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(PublicUrlError::NotAnOrigin);
        }
        // The URL parser lets through quotes and `$`, which would break the shell example the
        // API keys page builds from it.
        if let Some(Host::Domain(name)) = url.host()
            && !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        {
            return Err(PublicUrlError::Host);
        }
        // http and https URLs always have a host once parsed, so the origin is a tuple.
        Ok(PublicUrl::new(url.origin(), false))
    }

    /// The default when `PUBLIC_URL` is unset: `http://` and the address the portal listens on,
    /// with loopback standing in for an any-address bind (`0.0.0.0`, `::`).
    pub fn local(listening: SocketAddr) -> PublicUrl {
        let ip = match listening.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        let host = match ip {
            IpAddr::V4(ip) => Host::Ipv4(ip),
            IpAddr::V6(ip) => Host::Ipv6(ip),
        };
        PublicUrl::new(Origin::Tuple("http".to_string(), host, listening.port()), ip.is_loopback())
    }

    fn new(origin: Origin, loopback_aliases: bool) -> PublicUrl {
        let serialized = origin.ascii_serialization();
        PublicUrl { origin, serialized, loopback_aliases }
    }

    /// `https://host[:port]`, as a browser sends it in `Origin`.
    pub fn origin(&self) -> &str {
        &self.serialized
    }

    /// The host, as a mail's `Message-ID` and a default sender name it: `portal.example.com`.
    pub fn host(&self) -> String {
        match &self.origin {
            Origin::Tuple(_, host, _) => host.to_string(),
            Origin::Opaque(_) => "localhost".to_string(),
        }
    }

    pub fn is_https(&self) -> bool {
        matches!(&self.origin, Origin::Tuple(scheme, _, _) if scheme == "https")
    }

    /// The absolute link to `path` (which starts with `/` and may carry a query).
    pub fn link(&self, path: &str) -> String {
        debug_assert!(path.starts_with('/'), "links are built from absolute paths: {path}");
        format!("{}{path}", self.serialized)
    }

    /// Is an `Origin` header's value this portal? Compared as origins: scheme, host and port,
    /// case and default ports normalised; `null` and anything unparseable are another site.
    pub fn is_same_origin(&self, header: &str) -> bool {
        let Ok(url) = Url::parse(header) else { return false };
        let theirs = url.origin();
        if theirs == self.origin {
            return true;
        }
        match (&theirs, &self.origin) {
            (Origin::Tuple(scheme, host, port), Origin::Tuple(our_scheme, _, our_port)) => {
                self.loopback_aliases && scheme == our_scheme && port == our_port && is_loopback(host)
            }
            _ => false,
        }
    }
}

fn is_loopback(host: &Host) -> bool {
    match host {
        Host::Domain(name) => name == "localhost",
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => ip.is_loopback(),
    }
}

impl fmt::Display for PublicUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.serialized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_origin_parses_to_its_normal_form() {
        for (given, origin) in [
            ("https://portal.example.com", "https://portal.example.com"),
            ("https://portal.example.com/", "https://portal.example.com"),
            ("HTTPS://Portal.Example.COM:443", "https://portal.example.com"),
            ("https://portal.example.com:8443", "https://portal.example.com:8443"),
            ("http://10.0.0.5:8080/", "http://10.0.0.5:8080"),
            ("http://[2001:db8::1]:8080", "http://[2001:db8::1]:8080"),
            ("  https://portal.example.com  ", "https://portal.example.com"),
            ("https://bücher.example", "https://xn--bcher-kva.example"),
        ] {
            let url = PublicUrl::parse(given).unwrap_or_else(|e| panic!("{given}: {e}"));
            assert_eq!(url.origin(), origin, "{given}");
        }
        assert!(PublicUrl::parse("https://portal.example.com").unwrap().is_https());
        assert!(!PublicUrl::parse("http://portal.example.com").unwrap().is_https());
    }

    #[test]
    fn anything_but_an_origin_is_refused() {
        for (given, error) in [
            ("", PublicUrlError::NotAUrl),
            ("portal.example.com", PublicUrlError::NotAUrl),
            ("https://", PublicUrlError::NotAUrl),
            ("ftp://portal.example.com", PublicUrlError::Scheme),
            ("portal.example.com:443", PublicUrlError::Scheme),
            ("https://admin@portal.example.com", PublicUrlError::Credentials),
            ("https://admin:secret@portal.example.com", PublicUrlError::Credentials),
            ("https://portal.example.com/portal", PublicUrlError::NotAnOrigin),
            ("https://portal.example.com/?a=b", PublicUrlError::NotAnOrigin),
            ("https://portal.example.com?", PublicUrlError::NotAnOrigin),
            ("https://portal.example.com/#top", PublicUrlError::NotAnOrigin),
            ("https://portal$(id).example.com", PublicUrlError::Host),
            ("https://portal'.example.com", PublicUrlError::Host),
            ("https://portal_1.example.com", PublicUrlError::Host),
        ] {
            assert_eq!(PublicUrl::parse(given), Err(error), "{given}");
        }
    }

    #[test]
    fn links_are_the_origin_and_the_path() {
        let url = PublicUrl::parse("https://portal.example.com/").unwrap();
        assert_eq!(url.link("/password/set?token=abc"), "https://portal.example.com/password/set?token=abc");
        assert_eq!(url.to_string(), "https://portal.example.com");
    }

    #[test]
    fn the_same_origin_is_recognised_whatever_its_spelling() {
        let url = PublicUrl::parse("https://portal.example.com").unwrap();
        for same in ["https://portal.example.com", "https://PORTAL.example.com:443", "https://portal.example.com/"] {
            assert!(url.is_same_origin(same), "{same}");
        }
        for other in [
            "https://evil.example",
            "http://portal.example.com",
            "https://portal.example.com:8443",
            "https://portal.example.com.evil.example",
            "null",
            "",
            "portal.example.com",
        ] {
            assert!(!url.is_same_origin(other), "{other}");
        }
    }

    #[test]
    fn the_default_is_the_bound_address_with_loopback_for_any_address() {
        let cases = [
            ("127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("0.0.0.0:8080", "http://127.0.0.1:8080"),
            ("[::]:8080", "http://[::1]:8080"),
            ("10.0.0.5:80", "http://10.0.0.5"),
        ];
        for (bind, origin) in cases {
            assert_eq!(PublicUrl::local(bind.parse().unwrap()).origin(), origin, "{bind}");
        }
    }

    #[test]
    fn a_local_default_accepts_the_other_loopback_names_of_its_port_only() {
        let url = PublicUrl::local("0.0.0.0:8080".parse().unwrap());
        for same in ["http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080"] {
            assert!(url.is_same_origin(same), "{same}");
        }
        for other in
            ["http://localhost:8081", "https://localhost:8080", "http://evil.example:8080", "http://10.0.0.5:8080"]
        {
            assert!(!url.is_same_origin(other), "{other}");
        }
        // An address reachable from elsewhere has no aliases; nor has a configured PUBLIC_URL.
        let lan = PublicUrl::local("10.0.0.5:8080".parse().unwrap());
        assert!(!lan.is_same_origin("http://localhost:8080"));
        let configured = PublicUrl::parse("http://127.0.0.1:8080").unwrap();
        assert!(!configured.is_same_origin("http://localhost:8080"));
    }
}

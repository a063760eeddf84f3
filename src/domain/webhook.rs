//! Webhooks, free of HTTP and SQL: what an account's endpoint asks to hear of, the message formats
//! it may choose, and where the portal may call. The destination rule is checked when an endpoint
//! is saved and again, on the addresses actually connected to, at every call.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::notify::{Notice, NoticeKind};
use super::ticket::Severity;

/// How a call's body is shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A JSON event for programs (`type`, `timestamp`, `data`).
    Standard,
    /// `{"text": …}`, which Slack's and Mattermost's incoming webhooks post as a message.
    Slack,
    /// A message with an Adaptive Card, which a Microsoft Teams workflow posts to a channel.
    Teams,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::Standard, Format::Slack, Format::Teams];

    pub fn code(self) -> &'static str {
        match self {
            Format::Standard => "standard",
            Format::Slack => "slack",
            Format::Teams => "teams",
        }
    }

    pub fn from_code(code: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.code() == code)
    }

    pub fn label(self) -> &'static str {
        match self {
            Format::Standard => "Standard JSON event",
            Format::Slack => "Slack-style message",
            Format::Teams => "Microsoft Teams card",
        }
    }
}

/// What an endpoint asks to hear of: some of the kinds customers hear of, from a severity up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub kinds: BTreeSet<NoticeKind>,
    /// Only tickets of this severity and above; `None`: every ticket, labelled or not.
    pub min_severity: Option<Severity>,
}

impl Subscription {
    /// The kinds an endpoint may choose: those the customers on a ticket hear of. The desk's own
    /// notices (a customer's reply, a closure request) are not the account's to hear back.
    pub const KINDS: [NoticeKind; 7] = NoticeKind::FOR_CUSTOMERS;

    /// Whether a call goes out for `notice`. A ticket without a severity is below every threshold.
    pub fn wants(&self, notice: Notice) -> bool {
        !notice.kind.for_support()
            && self.kinds.contains(&notice.kind)
            && self.min_severity.is_none_or(|min| notice.severity.is_some_and(|s| s.rank() >= min.rank()))
    }
}

/// The longest endpoint address accepted.
pub const MAX_URL_CHARS: usize = 2000;
/// How many endpoints one account may have: each event becomes a call to every one of them.
pub const MAX_ENDPOINTS_PER_ACCOUNT: usize = 20;
/// After a rotation, how long the previous secret signs too, so a receiver can move over.
pub const ROTATION_GRACE_HOURS: i64 = 24;

/// What the operator allows beyond the default (public HTTPS addresses only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboundPolicy {
    /// `WEBHOOKS_ALLOW_HTTP`: plain `http://` addresses too.
    pub allow_http: bool,
    /// `WEBHOOKS_ALLOW_PRIVATE_ADDRESSES`: loopback, private, shared (CGNAT), link-local and
    /// unique-local addresses too (never metadata, multicast or reserved ones).
    pub allow_private: bool,
}

/// Why an address may not be called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    Unspecified,
    Loopback,
    /// RFC 1918 (10/8, 172.16/12, 192.168/16).
    Private,
    /// RFC 6598 shared address space, used by carrier-grade NAT (100.64/10).
    SharedAddressSpace,
    /// 169.254/16 and fe80::/10.
    LinkLocal,
    /// A cloud provider's instance metadata service (169.254.169.254 and its kin).
    Metadata,
    /// fc00::/7.
    UniqueLocal,
    Multicast,
    /// Documentation, benchmarking, broadcast, future use and other special-purpose ranges.
    Reserved,
}

impl Range {
    /// Ranges that `WEBHOOKS_ALLOW_PRIVATE_ADDRESSES` opens (a receiver on the operator's own
    /// network); the others are never called.
    pub fn is_private_network(self) -> bool {
        matches!(
            self,
            Range::Loopback | Range::Private | Range::SharedAddressSpace | Range::LinkLocal | Range::UniqueLocal
        )
    }

    fn describe(self) -> &'static str {
        match self {
            Range::Unspecified => "the unspecified address",
            Range::Loopback => "a loopback address",
            Range::Private => "in a private network range (RFC 1918)",
            Range::SharedAddressSpace => "in the shared address space of carrier-grade NAT",
            Range::LinkLocal => "a link-local address",
            Range::Metadata => "a cloud metadata service address",
            Range::UniqueLocal => "a unique-local (private) IPv6 address",
            Range::Multicast => "a multicast address",
            Range::Reserved => "in a reserved or special-purpose range",
        }
    }
}

/// The special range `ip` is in, if any; `None` for an ordinary public address.
pub fn special_range(ip: IpAddr) -> Option<Range> {
    match ip {
        IpAddr::V4(v4) => v4_range(v4),
        IpAddr::V6(v6) => v6_range(v6),
    }
}

fn v4_range(ip: Ipv4Addr) -> Option<Range> {
    let [a, b, c, d] = ip.octets();
    let range = match (a, b, c) {
        _ if ip.is_unspecified() => Range::Unspecified,
        (0, ..) => Range::Reserved,
        (127, ..) => Range::Loopback,
        (10, ..) | (192, 168, _) => Range::Private,
        (172, 16..=31, _) => Range::Private,
        (100, 64..=127, _) if (b, c, d) == (100, 100, 200) => Range::Metadata,
        (100, 64..=127, _) => Range::SharedAddressSpace,
        (169, 254, 169 | 170) if (c, d) == (169, 254) || (c, d) == (170, 2) => Range::Metadata,
        (169, 254, _) => Range::LinkLocal,
        // IETF protocol assignments, the three documentation networks, benchmarking.
        (192, 0, 0) | (192, 0, 2) | (198, 51, 100) | (203, 0, 113) | (198, 18..=19, _) => Range::Reserved,
        (224..=239, ..) => Range::Multicast,
        // Future use, and the broadcast address.
        (240..=255, ..) => Range::Reserved,
        _ => return None,
    };
    Some(range)
}

fn v6_range(ip: Ipv6Addr) -> Option<Range> {
    let segments = ip.segments();
    if let Some(v4) = embedded_v4(ip) {
        return v4_range(v4);
    }
    let range = match segments {
        _ if ip.is_unspecified() => Range::Unspecified,
        _ if ip.is_loopback() => Range::Loopback,
        // AWS's metadata service on IPv6.
        [0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254] => Range::Metadata,
        [first, ..] if first & 0xfe00 == 0xfc00 => Range::UniqueLocal,
        // Link-local, and the deprecated site-local.
        [first, ..] if first & 0xffc0 == 0xfe80 || first & 0xffc0 == 0xfec0 => Range::LinkLocal,
        [first, ..] if first & 0xff00 == 0xff00 => Range::Multicast,
        // IPv4-compatible (deprecated), discard-only, local-use NAT64, Teredo, documentation.
        [0, 0, 0, 0, 0, 0, ..] | [0x0100, 0, 0, 0, ..] | [0x0064, 0xff9b, 0x0001, ..] => Range::Reserved,
        [0x2001, 0, ..] | [0x2001, 0x0db8, ..] => Range::Reserved,
        _ => return None,
    };
    Some(range)
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`) or 6to4
/// (`2002:aabb:ccdd::`) address: each reaches that IPv4 host, so it is judged as that host.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let from = |high: u16, low: u16| Ipv4Addr::from((u32::from(high) << 16) | u32::from(low));
    match s {
        [0, 0, 0, 0, 0, 0xffff, high, low] => Some(from(high, low)),
        [0x0064, 0xff9b, 0, 0, 0, 0, high, low] => Some(from(high, low)),
        [0x2002, high, low, ..] => Some(from(high, low)),
        _ => None,
    }
}

/// Why an endpoint's address is refused; each message is shown to the administrator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DestinationProblem {
    NotAUrl,
    TooLong,
    /// Neither `https://` nor (when allowed) `http://`.
    Scheme {
        allow_http: bool,
    },
    /// `user:password@` in the address: it would be stored and shown in plain text.
    Credentials,
    /// The host resolves to, or is, an address the portal does not call.
    Address {
        ip: IpAddr,
        range: Range,
    },
    /// The host name has no address (or could not be looked up).
    Unresolvable(String),
}

impl fmt::Display for DestinationProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DestinationProblem::NotAUrl => {
                f.write_str("Enter the full address, such as https://hooks.example.com/portal.")
            }
            DestinationProblem::TooLong => write!(f, "The address is longer than {MAX_URL_CHARS} characters."),
            DestinationProblem::Scheme { allow_http: false } => {
                f.write_str("The address must start with https:// (this portal calls no plain http:// address).")
            }
            DestinationProblem::Scheme { allow_http: true } => {
                f.write_str("The address must start with https:// or http://.")
            }
            DestinationProblem::Credentials => f.write_str(
                "The address may not hold a user name or password; put a token in its path or query instead.",
            ),
            DestinationProblem::Address { ip, range } => {
                write!(f, "The address {ip} is {}: this portal calls only public Internet addresses.", range.describe())
            }
            DestinationProblem::Unresolvable(host) => write!(f, "The host name {host} has no address."),
        }
    }
}

impl OutboundPolicy {
    /// Whether the portal may connect to `ip`.
    pub fn check_ip(self, ip: IpAddr) -> Result<(), DestinationProblem> {
        match special_range(ip) {
            Some(range) if !(self.allow_private && range.is_private_network()) => {
                Err(DestinationProblem::Address { ip, range })
            }
            _ => Ok(()),
        }
    }

    /// Checks an endpoint address as typed: a URL with an allowed scheme and no credentials. Its
    /// host, if it is an address rather than a name, is checked too; names are checked when
    /// they are resolved.
    pub fn parse_url(self, raw: &str) -> Result<url::Url, DestinationProblem> {
        let raw = raw.trim();
        if raw.chars().count() > MAX_URL_CHARS {
            return Err(DestinationProblem::TooLong);
        }
        let url = url::Url::parse(raw).map_err(|_| DestinationProblem::NotAUrl)?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            _ => return Err(DestinationProblem::Scheme { allow_http: self.allow_http }),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(DestinationProblem::Credentials);
        }
        match url.host() {
            None => return Err(DestinationProblem::NotAUrl),
            Some(url::Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip))?,
            Some(url::Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip))?,
            Some(url::Host::Domain(_)) => {}
        }
        Ok(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(text: &str) -> Option<Range> {
        special_range(text.parse().unwrap())
    }

    #[test]
    fn loopback_private_link_local_shared_and_unique_local_addresses_are_private_networks() {
        for (ip, expected) in [
            ("127.0.0.1", Range::Loopback),
            ("127.255.255.254", Range::Loopback),
            ("::1", Range::Loopback),
            ("10.0.0.1", Range::Private),
            ("10.255.255.255", Range::Private),
            ("172.16.0.1", Range::Private),
            ("172.31.255.255", Range::Private),
            ("192.168.1.1", Range::Private),
            ("100.64.0.1", Range::SharedAddressSpace),
            ("100.127.255.255", Range::SharedAddressSpace),
            ("169.254.0.1", Range::LinkLocal),
            ("169.254.169.253", Range::LinkLocal),
            ("fe80::1", Range::LinkLocal),
            ("fec0::1", Range::LinkLocal),
            ("fc00::1", Range::UniqueLocal),
            ("fd12:3456:789a::1", Range::UniqueLocal),
        ] {
            assert_eq!(range(ip), Some(expected), "{ip}");
            assert!(expected.is_private_network(), "{ip}");
        }
    }

    #[test]
    fn metadata_multicast_unspecified_and_reserved_addresses_are_never_called() {
        for (ip, expected) in [
            ("169.254.169.254", Range::Metadata),
            ("169.254.170.2", Range::Metadata),
            ("100.100.100.200", Range::Metadata),
            ("fd00:ec2::254", Range::Metadata),
            ("0.0.0.0", Range::Unspecified),
            ("::", Range::Unspecified),
            ("0.1.2.3", Range::Reserved),
            ("224.0.0.1", Range::Multicast),
            ("239.255.255.250", Range::Multicast),
            ("ff02::1", Range::Multicast),
            ("255.255.255.255", Range::Reserved),
            ("240.0.0.1", Range::Reserved),
            ("192.0.0.8", Range::Reserved),
            ("192.0.2.10", Range::Reserved),
            ("198.51.100.7", Range::Reserved),
            ("203.0.113.99", Range::Reserved),
            ("198.18.0.1", Range::Reserved),
            ("2001:db8::1", Range::Reserved),
            ("2001:0:4136:e378::1", Range::Reserved),
            ("100::1", Range::Reserved),
            ("64:ff9b:1::1", Range::Reserved),
            ("::127.0.0.1", Range::Reserved),
        ] {
            assert_eq!(range(ip), Some(expected), "{ip}");
            let everything = OutboundPolicy { allow_http: true, allow_private: true };
            assert!(everything.check_ip(ip.parse().unwrap()).is_err(), "{ip} is refused even with private allowed");
        }
    }

    #[test]
    fn an_ipv4_address_inside_an_ipv6_one_is_judged_as_itself() {
        assert_eq!(range("::ffff:127.0.0.1"), Some(Range::Loopback));
        assert_eq!(range("::ffff:169.254.169.254"), Some(Range::Metadata));
        assert_eq!(range("::ffff:10.1.2.3"), Some(Range::Private));
        assert_eq!(range("64:ff9b::192.168.0.1"), Some(Range::Private));
        assert_eq!(range("2002:7f00:1::"), Some(Range::Loopback), "6to4 of 127.0.0.1");
        assert_eq!(range("2002:a9fe:a9fe::1"), Some(Range::Metadata), "6to4 of 169.254.169.254");
        assert_eq!(range("::ffff:8.8.8.8"), None);
        assert_eq!(range("64:ff9b::8.8.8.8"), None);
    }

    #[test]
    fn public_addresses_are_ordinary() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.215.14",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "169.253.1.1",
            "192.169.0.1",
            "11.0.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
        ] {
            assert_eq!(range(ip), None, "{ip}");
            assert_eq!(OutboundPolicy::default().check_ip(ip.parse().unwrap()), Ok(()), "{ip}");
        }
    }

    #[test]
    fn private_networks_open_only_when_the_operator_allows_them() {
        let strict = OutboundPolicy::default();
        let open = OutboundPolicy { allow_http: false, allow_private: true };
        for ip in ["127.0.0.1", "10.0.0.1", "::1", "fd00::1"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(matches!(strict.check_ip(ip), Err(DestinationProblem::Address { .. })), "{ip}");
            assert_eq!(open.check_ip(ip), Ok(()), "{ip}");
        }
    }

    #[test]
    fn an_endpoint_url_needs_https_no_credentials_and_an_allowed_literal_host() {
        let strict = OutboundPolicy::default();
        assert!(strict.parse_url(" https://hooks.example.com/portal?token=abc ").is_ok());
        assert_eq!(
            strict.parse_url("http://hooks.example.com/"),
            Err(DestinationProblem::Scheme { allow_http: false })
        );
        let http = OutboundPolicy { allow_http: true, allow_private: false };
        assert!(http.parse_url("http://hooks.example.com/").is_ok());
        assert_eq!(http.parse_url("ftp://hooks.example.com/"), Err(DestinationProblem::Scheme { allow_http: true }));
        assert_eq!(strict.parse_url("https://user:pw@hooks.example.com/"), Err(DestinationProblem::Credentials));
        assert_eq!(strict.parse_url("hooks.example.com/portal"), Err(DestinationProblem::NotAUrl));
        assert_eq!(strict.parse_url(""), Err(DestinationProblem::NotAUrl));
        let long = format!("https://hooks.example.com/{}", "a".repeat(MAX_URL_CHARS));
        assert_eq!(strict.parse_url(&long), Err(DestinationProblem::TooLong));
        // Every spelling of a loopback or metadata address is the address it stands for.
        for sneaky in [
            "https://127.0.0.1/",
            "https://2130706433/",
            "https://0x7f.0.0.1/",
            "https://127.1/",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://169.254.169.254/latest/meta-data/",
            "https://[::ffff:a9fe:a9fe]/",
            "https://0.0.0.0/",
            "https://10.0.0.1:8443/",
        ] {
            let refused = strict.parse_url(sneaky);
            assert!(matches!(refused, Err(DestinationProblem::Address { .. })), "{sneaky}: {refused:?}");
        }
        let message = strict.parse_url("https://169.254.169.254/").unwrap_err().to_string();
        assert!(message.contains("169.254.169.254") && message.contains("metadata"), "{message}");
    }

    #[test]
    fn a_subscription_hears_its_kinds_from_its_severity_up_and_never_the_desks_notices() {
        let subscription = Subscription {
            kinds: [NoticeKind::Labelled, NoticeKind::Closed, NoticeKind::CustomerComment].into_iter().collect(),
            min_severity: Some(Severity::High),
        };
        let notice = |kind, severity| Notice { kind, severity, with_comment: false };
        assert!(subscription.wants(notice(NoticeKind::Labelled, Some(Severity::Critical))));
        assert!(subscription.wants(notice(NoticeKind::Closed, Some(Severity::High))));
        assert!(!subscription.wants(notice(NoticeKind::Closed, Some(Severity::Medium))), "below the threshold");
        assert!(!subscription.wants(notice(NoticeKind::Closed, None)), "no severity is below any");
        assert!(!subscription.wants(notice(NoticeKind::Reopened, Some(Severity::Critical))), "a kind not chosen");
        assert!(!subscription.wants(notice(NoticeKind::CustomerComment, Some(Severity::Critical))), "the desk's");
        let everything = Subscription { kinds: Subscription::KINDS.into_iter().collect(), min_severity: None };
        assert!(everything.wants(notice(NoticeKind::SupportComment, None)));
    }

    #[test]
    fn format_codes_round_trip() {
        for format in Format::ALL {
            assert_eq!(Format::from_code(format.code()), Some(format));
        }
        assert_eq!(Format::from_code("xml"), None);
    }
}

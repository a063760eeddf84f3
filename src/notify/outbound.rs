//! Calls to addresses that customers chose, made so that they cannot reach inside the provider's
//! network: only `https://` (unless `WEBHOOKS_ALLOW_HTTP`); the host's addresses resolved by the
//! portal itself and every one checked, and the connection made to exactly those (a name that
//! changes its answer between check and connect gains nothing); an address written in the URL
//! checked the same way; no proxy, no redirect followed, 10 seconds for the whole call, and at
//! most a few kilobytes of the answer read, of which a short excerpt is kept.

use std::error::Error as StdError;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::domain::webhook::{DestinationProblem, OutboundPolicy};

/// How long one call may take, from resolving the name to the end of the answer read.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// How long checking a typed address may wait for its name to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);
/// The most of an answer's body read.
const READ_AT_MOST: usize = 4096;
/// The most of an answer's body kept, in bytes.
pub const EXCERPT_BYTES: usize = 256;

/// What became of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A 2xx status.
    Accepted { code: u16, excerpt: String },
    /// Any other status (a redirect included: it is not followed).
    Refused { code: u16, excerpt: String, reason: String },
    /// No answer: the address was refused, the connection failed or the time ran out.
    None { reason: String },
}

/// An address check that failed inside the resolver, carried out through the client's error.
#[derive(Debug)]
struct Refusal(DestinationProblem);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl StdError for Refusal {}

/// Resolves a host and checks every address it has: one that may not be called refuses them all.
pub async fn resolve_checked(host: &str, policy: OutboundPolicy) -> Result<Vec<SocketAddr>, DestinationProblem> {
    let unresolvable = || DestinationProblem::Unresolvable(host.to_string());
    let found = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, 0)))
        .await
        .map_err(|_| unresolvable())?
        .map_err(|_| unresolvable())?;
    let addresses: Vec<SocketAddr> = found.collect();
    if addresses.is_empty() {
        return Err(unresolvable());
    }
    for address in &addresses {
        policy.check_ip(address.ip())?;
    }
    Ok(addresses)
}

/// Checks an address an administrator typed: its form, and where its host points now.
pub async fn check_destination(raw: &str, policy: OutboundPolicy) -> Result<url::Url, DestinationProblem> {
    let url = policy.parse_url(raw)?;
    if let Some(url::Host::Domain(host)) = url.host() {
        resolve_checked(host, policy).await?;
    }
    Ok(url)
}

/// The client's resolver: the connection goes to the addresses checked here, and only those.
struct CheckedResolver {
    policy: OutboundPolicy,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let addresses = resolve_checked(name.as_str(), policy).await.map_err(Refusal)?;
            Ok(Box::new(addresses.into_iter()) as Addrs)
        })
    }
}

/// TLS as the rest of the portal does it: rustls on ring, with the Mozilla roots (webpki-roots).
fn tls_config() -> anyhow::Result<rustls::ClientConfig> {
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The HTTP client of webhook calls.
#[derive(Clone)]
pub struct Outbound {
    client: reqwest::Client,
    policy: OutboundPolicy,
}

impl Outbound {
    pub fn new(policy: OutboundPolicy) -> anyhow::Result<Outbound> {
        // reqwest (built without a provider of its own) asks the process's default for any client
        // made without a TLS configuration: let that be ring too, the portal's one provider.
        // Another caller may have installed it first; either way ring it is.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls_config()?)
            .dns_resolver(CheckedResolver { policy })
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .user_agent(concat!("incident-portal-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Outbound { client, policy })
    }

    /// POSTs `body` (JSON) to `url` with `headers`. The address is checked again first, under the
    /// settings in force now.
    pub async fn post(&self, url: &str, headers: &[(&'static str, String)], body: Vec<u8>) -> Answer {
        let url = match self.policy.parse_url(url) {
            Ok(url) => url,
            Err(problem) => return Answer::None { reason: problem.to_string() },
        };
        let mut request = self.client.post(url).header(reqwest::header::CONTENT_TYPE, "application/json");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let mut response = match request.body(body).send().await {
            Ok(response) => response,
            Err(error) => return Answer::None { reason: describe(&error) },
        };
        let code = response.status().as_u16();
        let location = response.headers().get(reqwest::header::LOCATION).and_then(|l| l.to_str().ok()).map(excerpt_of);
        let mut read = Vec::new();
        // The rest of a long answer is never read: dropping the response closes the connection.
        while read.len() < READ_AT_MOST {
            match response.chunk().await {
                Ok(Some(chunk)) => read.extend_from_slice(&chunk[..chunk.len().min(READ_AT_MOST - read.len())]),
                Ok(None) | Err(_) => break,
            }
        }
        let excerpt = excerpt_of(&String::from_utf8_lossy(&read));
        match code {
            200..=299 => Answer::Accepted { code, excerpt },
            300..=399 => {
                let to = location.map(|l| format!(" to {l}")).unwrap_or_default();
                Answer::Refused { code, excerpt, reason: format!("HTTP {code}: a redirect{to}, not followed") }
            }
            _ => Answer::Refused { code, excerpt, reason: format!("HTTP {code}") },
        }
    }
}

/// Why a call got no answer, in words for the delivery log: the address refused, no answer in
/// time, or the connection's own error.
fn describe(error: &reqwest::Error) -> String {
    let mut cause: Option<&(dyn StdError + 'static)> = Some(error);
    let mut innermost = error.to_string();
    while let Some(current) = cause {
        if let Some(refusal) = current.downcast_ref::<Refusal>() {
            return refusal.to_string();
        }
        innermost = current.to_string();
        cause = current.source();
    }
    if error.is_timeout() {
        format!("no answer within {} seconds", TIMEOUT.as_secs())
    } else if error.is_connect() {
        format!("could not connect: {innermost}")
    } else {
        format!("the call failed: {innermost}")
    }
}

/// At most [`EXCERPT_BYTES`] of `text`, on one line, without control characters.
pub fn excerpt_of(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let clean: String = line.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let mut end = clean.len().min(EXCERPT_BYTES);
    while !clean.is_char_boundary(end) {
        end -= 1;
    }
    clean[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_excerpt_is_one_clean_line_of_at_most_256_bytes() {
        assert_eq!(excerpt_of("  {\"ok\":\n\ttrue}\r\n"), "{\"ok\": true}");
        assert_eq!(excerpt_of("a\u{0}b\u{1b}[31m"), "a b [31m");
        let long = "é".repeat(300);
        let cut = excerpt_of(&long);
        assert!(cut.len() <= EXCERPT_BYTES && cut.len() >= EXCERPT_BYTES - 1, "{}", cut.len());
        assert!(cut.chars().all(|c| c == 'é'));
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_unless_private_addresses_are_allowed() {
        let strict = OutboundPolicy::default();
        let refused = check_destination("https://localhost/hook", strict).await;
        assert!(matches!(refused, Err(DestinationProblem::Address { .. })), "{refused:?}");
        let open = OutboundPolicy { allow_http: true, allow_private: true };
        assert!(check_destination("http://localhost:9/hook", open).await.is_ok());
        assert!(matches!(
            check_destination("https://[::ffff:169.254.169.254]/", open).await,
            Err(DestinationProblem::Address { .. })
        ));
    }

    #[tokio::test]
    async fn a_call_to_a_refused_address_is_never_made() {
        let outbound = Outbound::new(OutboundPolicy::default()).unwrap();
        for url in ["https://127.0.0.1:9/", "https://localhost:9/", "http://203.0.113.1/", "https://169.254.169.254/"] {
            let answer = outbound.post(url, &[], b"{}".to_vec()).await;
            let Answer::None { reason } = &answer else { panic!("{url}: {answer:?}") };
            assert!(reason.contains("this portal calls") || reason.contains("https://"), "{url}: {reason}");
        }
    }
}

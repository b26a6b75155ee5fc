//! Signed webhooks (issue 22, sql/0017_webhooks.sql): what the admin API, which registers
//! endpoints and sends test deliveries, and proisp-events, which delivers every event, must
//! agree on.
//!
//! - The event kinds an endpoint may ask for ([`KINDS`]).
//! - The signing secret: 32 random octets, shown once as `whsec_` + base64 ([`Secret`]),
//!   kept encrypted under the deployment key with a label of its own ([`LABEL`]).
//! - The signature (Standard Webhooks, <https://www.standardwebhooks.com/>): headers
//!   `webhook-id` (the event id, the same on every retry), `webhook-timestamp` (unix
//!   seconds of the attempt) and `webhook-signature: v1,<base64 HMAC-SHA256(secret,
//!   "{id}.{timestamp}.{body}")>` ([`signature`]).
//! - Where a delivery may go ([`forbidden`], [`check_destination`]): an endpoint whose host
//!   is or resolves to a loopback, private, link-local, CGNAT, unspecified, multicast or
//!   broadcast address is refused unless the deployment allows private destinations
//!   (server-side request forgery: a webhook must not become a way to reach the ISP's
//!   own network). [`Sender`] checks again at every attempt and connects only to the
//!   addresses it checked, so a name that resolved to a public address at registration
//!   and to 10.0.0.1 later (DNS rebinding) is refused then.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit as _, Mac as _};
use rand::RngCore as _;
use sha2::Sha256;
use url::{Host, Url};
use zeroize::Zeroizing;

use super::{Keyring, Label, StoreError};

/// The event kinds an endpoint may subscribe to: every kind the outbox carries
/// (events/asyncapi.json's channels, `proisp.v1.<kind>`).
pub const KINDS: &[&str] = &[
    "session.start",
    "session.interim",
    "session.stop",
    "subscriber.created",
    "subscriber.updated",
    "subscriber.suspended",
    "subscriber.resumed",
    "subscriber.deleted",
    "subscriber.renewed",
    "plan.changed",
    "fup.applied",
    "coa.result",
    "nas.accounting_on",
    "command.result",
];

/// The kind of a test delivery (`POST /webhooks/{id}/test`); never on the stream.
pub const TEST_KIND: &str = "webhook.test";

/// What the secret's text starts with.
pub const SECRET_PREFIX: &str = "whsec_";

/// Octets of a secret (Standard Webhooks asks for 24 to 64).
const SECRET_LEN: usize = 32;

/// The label webhook secrets are sealed under: theirs alone, so a NAS secret or a password
/// copied into `webhooks.secret_enc` does not open as one.
pub const LABEL: Label = Label::new("proisp/webhook-secret/v1");

/// Longest URL accepted, characters.
pub const MAX_URL_LEN: usize = 2048;

/// A signing secret: its octets, wiped when dropped.
pub struct Secret(Zeroizing<Vec<u8>>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// A fresh random secret.
    pub fn generate() -> Secret {
        let mut octets = Zeroizing::new(vec![0u8; SECRET_LEN]);
        rand::rng().fill_bytes(&mut octets);
        Secret(octets)
    }

    /// The secret from `webhooks.secret_enc`.
    pub fn open(keys: &Keyring, sealed: &[u8]) -> Result<Secret, StoreError> {
        keys.decrypt(LABEL, sealed).map(Secret)
    }

    /// Encrypted for `webhooks.secret_enc`.
    pub fn seal(&self, keys: &Keyring) -> Vec<u8> {
        keys.encrypt(LABEL, &self.0)
    }

    /// `whsec_` + base64: what the receiver is given (once) to check signatures with.
    pub fn text(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{SECRET_PREFIX}{}", BASE64.encode(&*self.0)))
    }

    /// The octets the HMAC is keyed with.
    pub fn octets(&self) -> &[u8] {
        &self.0
    }
}

/// `v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>`: the
/// `webhook-signature` header's value.
pub fn signature(secret: &Secret, id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.octets()).expect("HMAC takes any key");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
}

/// Whether a delivery to `ip` would reach a network a stranger should not: loopback,
/// private (RFC 1918, fc00::/7), link-local (169.254/16, fe80::/10), CGNAT (100.64/10),
/// "this network" (0/8), unspecified, multicast, reserved or broadcast (240/4), and the same
/// addresses written as IPv4-mapped or NAT64 IPv6 addresses.
pub fn forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_v4(v4);
            }
            let s = v6.segments();
            // 64:ff9b::/96, the NAT64 well-known prefix, carries an IPv4 address.
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return forbidden_v4(Ipv4Addr::new(a, b, c, d));
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] & 0xffc0) == 0xfec0
                || v6 == Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0)
        }
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || a == 0
        || a >= 240
        || (a == 100 && (64..128).contains(&b))
}

/// Why a destination is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DestinationError {
    /// Not an http(s) URL this accepts.
    #[error("{0}")]
    Url(&'static str),
    /// The host is, or resolves to, an address deliveries may not go to.
    #[error(
        "{host} is {addr}, a loopback, private, link-local or otherwise internal address \
         (allowed only with webhooks.allow_private_destinations)"
    )]
    Forbidden {
        /// The URL's host.
        host: String,
        /// The address refused.
        addr: IpAddr,
    },
    /// The name does not resolve.
    #[error("{host} does not resolve: {reason}")]
    Resolve {
        /// The URL's host.
        host: String,
        /// The resolver's word.
        reason: String,
    },
}

/// `text` as a webhook URL: `http` or `https`, a host, no user name or password (they would
/// show in every list), at most [`MAX_URL_LEN`] characters.
pub fn parse_url(text: &str) -> Result<Url, DestinationError> {
    if text.len() > MAX_URL_LEN {
        return Err(DestinationError::Url("at most 2048 characters"));
    }
    let url = Url::parse(text).map_err(|_| DestinationError::Url("not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(DestinationError::Url("must be an http or https URL"));
    }
    if url.host().is_none() {
        return Err(DestinationError::Url("must name a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(DestinationError::Url(
            "must not carry a user name or password (put a token in the path or query)",
        ));
    }
    if url.fragment().is_some() {
        return Err(DestinationError::Url("must not have a #fragment"));
    }
    Ok(url)
}

/// The addresses `url`'s host stands for, each checked: all of them, or an error when one
/// is forbidden (unless `allow_private`) or the name does not resolve.
pub async fn check_destination(
    url: &Url,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, DestinationError> {
    let port = url.port_or_known_default().unwrap_or(0);
    let (host, addrs) = match url.host() {
        Some(Host::Ipv4(ip)) => (ip.to_string(), vec![SocketAddr::new(ip.into(), port)]),
        Some(Host::Ipv6(ip)) => (ip.to_string(), vec![SocketAddr::new(ip.into(), port)]),
        Some(Host::Domain(name)) => (name.to_owned(), resolve(name, port).await?),
        None => return Err(DestinationError::Url("must name a host")),
    };
    checked(&host, addrs, allow_private)
}

async fn resolve(name: &str, port: u16) -> Result<Vec<SocketAddr>, DestinationError> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name, port))
        .await
        .map_err(|e| DestinationError::Resolve {
            host: name.to_owned(),
            reason: e.to_string(),
        })?
        .collect();
    if addrs.is_empty() {
        return Err(DestinationError::Resolve {
            host: name.to_owned(),
            reason: "no address".to_owned(),
        });
    }
    Ok(addrs)
}

fn checked(
    host: &str,
    addrs: Vec<SocketAddr>,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, DestinationError> {
    if !allow_private && let Some(bad) = addrs.iter().find(|a| forbidden(a.ip())) {
        return Err(DestinationError::Forbidden {
            host: host.to_owned(),
            addr: bad.ip(),
        });
    }
    Ok(addrs)
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The HTTP status, if the endpoint answered.
    pub status: Option<u16>,
    /// Why it failed: a status other than 2xx, a timeout, a refused connection, a refused
    /// destination. `None`: delivered.
    pub error: Option<String>,
}

impl Outcome {
    /// A 2xx answer.
    pub fn delivered(&self) -> bool {
        self.error.is_none()
    }
}

/// Sends deliveries: one HTTP/1.1 client (its connection pool keyed by host, so a slow
/// endpoint holds only its own connections), no proxy from the environment, no redirects
/// (a 3xx could point anywhere, and counts as a failure), every name resolved and checked
/// by [`check_destination`]'s rules at connect time.
#[derive(Debug, Clone)]
pub struct Sender {
    client: reqwest::Client,
    allow_private: bool,
}

/// Resolves names for the client and refuses the forbidden ones: the client connects to
/// exactly the addresses checked here.
struct Guard {
    allow_private: bool,
}

impl reqwest::dns::Resolve for Guard {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str();
            let addrs = checked(host, resolve(host, 0).await?, allow_private)?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

impl Sender {
    /// A sender whose attempts each take at most `timeout` (connecting, sending, and the
    /// answer's head). HTTPS endpoints are checked against the system's trust store.
    pub fn new(timeout: Duration, allow_private: bool) -> Result<Sender, StoreError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        let (added, _ignored) = roots.add_parsable_certificates(native.certs);
        if added == 0 {
            tracing::warn!("the system's trust store is empty: https webhooks will fail");
        }
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| StoreError::Unavailable(format!("webhook TLS: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .dns_resolver(Arc::new(Guard { allow_private }))
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("proisp-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| StoreError::Unavailable(format!("webhook client: {e}")))?;
        Ok(Sender {
            client,
            allow_private,
        })
    }

    /// POSTs `body` (the event's CloudEvent, id `id`) to `url`, signed with `secret`.
    pub async fn send(&self, url: &str, secret: &Secret, id: &str, body: &str) -> Outcome {
        let failed = |error: String| Outcome {
            status: None,
            error: Some(error),
        };
        let url = match parse_url(url) {
            Ok(url) => url,
            Err(e) => return failed(e.to_string()),
        };
        // Literal addresses never reach the resolver: check them here.
        let literal = match url.host() {
            Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        if let Some(ip) = literal
            && let Err(e) = checked(
                &ip.to_string(),
                vec![SocketAddr::new(ip, 0)],
                self.allow_private,
            )
        {
            return failed(e.to_string());
        }
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let sent = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header(
                "webhook-signature",
                signature(secret, id, timestamp, body.as_bytes()),
            )
            .body(body.to_owned())
            .send()
            .await;
        match sent {
            Ok(answer) if answer.status().is_success() => Outcome {
                status: Some(answer.status().as_u16()),
                error: None,
            },
            Ok(answer) => Outcome {
                status: Some(answer.status().as_u16()),
                error: Some(format!("answered {}", answer.status())),
            },
            Err(e) => failed(describe(&e)),
        }
    }
}

/// The client's error with its causes, without the URL (which may carry the receiver's
/// token in its query).
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".to_owned();
    }
    let mut text = String::new();
    let mut cause: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(c) = cause {
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&c.to_string());
        cause = c.source();
    }
    if text.is_empty() {
        text = if e.is_connect() {
            "cannot connect".to_owned()
        } else {
            "request failed".to_owned()
        };
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_forbidden_and_public_ones_are_not() {
        for bad in [
            "127.0.0.1",
            "127.1.2.3",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.1.1",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(forbidden(bad.parse().unwrap()), "{bad}");
        }
        for good in [
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.0",
            "172.32.0.1",
            "192.0.2.1",
            "2001:db8::1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!forbidden(good.parse().unwrap()), "{good}");
        }
    }

    #[test]
    fn urls() {
        assert!(parse_url("https://billing.example.net/hooks?t=1").is_ok());
        assert!(parse_url("http://192.0.2.1:8080/x").is_ok());
        for bad in [
            "ftp://example.net/",
            "example.net/hook",
            "https://user:pw@example.net/",
            "https://example.net/#x",
            "",
            "mailto:a@example.net",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
        let long = format!("https://example.net/{}", "a".repeat(MAX_URL_LEN));
        assert!(parse_url(&long).is_err());
    }

    #[tokio::test]
    async fn literal_and_resolved_destinations_are_checked() {
        let url = parse_url("http://127.0.0.1:9/x").unwrap();
        assert!(matches!(
            check_destination(&url, false).await,
            Err(DestinationError::Forbidden { .. })
        ));
        assert_eq!(
            check_destination(&url, true).await.unwrap(),
            vec!["127.0.0.1:9".parse().unwrap()]
        );
        let url = parse_url("http://localhost:9/x").unwrap();
        assert!(check_destination(&url, false).await.is_err());
        let url = parse_url("http://[fe80::1]/x").unwrap();
        assert!(check_destination(&url, false).await.is_err());
    }

    /// The Standard Webhooks specification's example: secret
    /// `whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw`, id `msg_p5jXN8AQM9LWM0D4loKWxJek`,
    /// timestamp 1614265330, body `{"test": 2432232314}`.
    #[test]
    fn the_signature_matches_the_specification() {
        let octets = BASE64.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let secret = Secret(Zeroizing::new(octets));
        assert_eq!(
            signature(
                &secret,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert!(secret.text().starts_with("whsec_MfKQ"));
        let keys = Keyring::from_key(&[7; 32]);
        let fresh = Secret::generate();
        let sealed = fresh.seal(&keys);
        assert_eq!(
            Secret::open(&keys, &sealed).unwrap().octets(),
            fresh.octets()
        );
        assert!(keys.decrypt(crate::Purpose::NasSecret, &sealed).is_err());
    }
}

//! The client's address: the TCP peer, or — only when the peer is a trusted proxy — the
//! address HAProxy put in `X-Forwarded-For`.
//!
//! The header is read from the right: each trusted proxy appends the address it received
//! from, so the rightmost address not belonging to a trusted proxy is the first one no
//! one we trust vouched for past; everything left of it is whatever the client wrote.

use std::net::IpAddr;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage as _, HttpRequest};
use ipnet::IpNet;

use crate::error::ApiError;

/// The client address of a request, as the guard middleware determined it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// The client address from the peer and the `X-Forwarded-For` header lines (in order).
pub fn resolve<'a>(
    peer: IpAddr,
    forwarded_for: impl Iterator<Item = &'a str>,
    trusted: &[IpNet],
) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded_for.flat_map(|line| line.split(',')).collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            // Garbage (or a `host:port` we do not parse) where a proxy should have put an
            // address: stop believing the header past this point.
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

impl FromRequest for ClientIp {
    type Error = ApiError;
    type Future = std::future::Ready<Result<ClientIp, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let ip = req
            .extensions()
            .get::<ClientIp>()
            .copied()
            .or_else(|| req.peer_addr().map(|a| ClientIp(a.ip())));
        std::future::ready(ip.ok_or_else(|| ApiError::internal("request without a peer address")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_from_trusted_proxies_only() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/24".parse().unwrap()];
        // Direct client: the header is ignored.
        assert_eq!(
            resolve(ip("198.51.100.7"), ["1.2.3.4"].into_iter(), &trusted),
            ip("198.51.100.7")
        );
        // Through HAProxy.
        assert_eq!(
            resolve(ip("10.0.0.5"), ["198.51.100.7"].into_iter(), &trusted),
            ip("198.51.100.7")
        );
        // The client forged a left part; HAProxy appended the real address.
        assert_eq!(
            resolve(
                ip("10.0.0.5"),
                ["1.2.3.4, 198.51.100.7"].into_iter(),
                &trusted
            ),
            ip("198.51.100.7")
        );
        // Two proxies, two header lines.
        assert_eq!(
            resolve(
                ip("10.0.0.5"),
                ["203.0.113.9", "10.0.0.6"].into_iter(),
                &trusted
            ),
            ip("203.0.113.9")
        );
        // A trusted proxy without the header: the proxy is the client.
        assert_eq!(
            resolve(ip("10.0.0.5"), std::iter::empty(), &trusted),
            ip("10.0.0.5")
        );
        assert_eq!(
            resolve(ip("10.0.0.5"), ["junk"].into_iter(), &trusted),
            ip("10.0.0.5")
        );
    }
}

//! TLS for RadSec: the server configuration read from PEM files (reloaded on SIGHUP), and
//! the identities a NAS's client certificate carries.

use std::net::IpAddr;
use std::sync::Arc;

use proisp_store::{pem_certificates, pem_private_key};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::CertificateDer;
use x509_parser::extensions::GeneralName;

use crate::config::RadsecConfig;

/// Why the TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("{0}")]
    File(#[from] proisp_store::TlsError),
    /// rustls refused the combination.
    #[error("radsec: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client certificate verifier could not be built (an empty CA file…).
    #[error("radsec.ca: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

/// The server side of RadSec's TLS from the files `config` names: TLS 1.3 preferred and
/// 1.2 accepted (RFC 6614's successor, draft-ietf-radext-radiusdtls-bis, makes 1.2 the
/// minimum), a client certificate required and verified against the CA, offering
/// `alpn` (most preferred first; empty: no ALPN).
pub(crate) fn server_config(
    config: &RadsecConfig,
    alpn: &[&[u8]],
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = RootCertStore::empty();
    for ca in pem_certificates("radsec.ca", &config.ca)? {
        roots.add(ca).map_err(|e| proisp_store::TlsError {
            key: "radsec.ca",
            reason: format!("{}: {e}", config.ca.display()),
        })?;
    }
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build()?;
    let chain = pem_certificates("radsec.certificate", &config.certificate)?;
    let key = pem_private_key("radsec.key", &config.key)?;
    let mut server = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    server.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    // RADIUS requests are small and steady: no session tickets to rotate, and a NAS
    // reconnecting does a full handshake (its connection lives for days).
    server.send_tls13_tickets = 0;
    Ok(Arc::new(server))
}

/// The identities a certificate carries, as a NAS entry's `tls_identity` names them: its
/// DNS name, URI and IP address subjectAltNames, then its subject's common names. Empty
/// for a certificate that does not parse (rustls verified it: it does).
pub(crate) fn identities(cert: &CertificateDer<'_>) -> Vec<String> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(cert.as_ref()) else {
        return Vec::new();
    };
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(s) | GeneralName::URI(s) => names.push((*s).to_owned()),
                GeneralName::IPAddress(octets) => {
                    let ip = match octets.len() {
                        4 => <[u8; 4]>::try_from(*octets).ok().map(IpAddr::from),
                        16 => <[u8; 16]>::try_from(*octets).ok().map(IpAddr::from),
                        _ => None,
                    };
                    names.extend(ip.map(|ip| ip.to_string()));
                }
                _ => {}
            }
        }
    }
    names.extend(
        cert.subject()
            .iter_common_name()
            .filter_map(|cn| cn.as_str().ok())
            .map(str::to_owned),
    );
    names
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;

    fn config(dir: &str) -> RadsecConfig {
        let file = |name: &str| PathBuf::from(dir).join(name);
        RadsecConfig {
            listen: "127.0.0.1:2083".parse().unwrap(),
            ca: file("ca.pem"),
            certificate: file("server.pem"),
            key: file("server.key"),
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            write_timeout: Duration::from_secs(10),
            max_connections: 1,
            max_connections_per_nas: 1,
            proxy_from: Vec::new(),
            tcp: None,
        }
    }

    #[test]
    fn a_bad_file_is_named_by_its_key_and_path() {
        let err = server_config(&config("/nonexistent"), &[]).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("radsec.ca: /nonexistent/ca.pem"), "{text}");

        // A CA that is no certificate: the same, for the key that names it.
        let dir = std::env::temp_dir().join(format!("radsec-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ca.pem"), "not a certificate\n").unwrap();
        let err = server_config(&config(dir.to_str().unwrap()), &[]).unwrap_err();
        assert!(err.to_string().contains("no PEM certificate"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! TLS for RadSec: the server configuration read from PEM files (reloaded on SIGHUP), and
//! the identities a NAS's client certificate carries.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::extensions::GeneralName;

use crate::config::RadsecConfig;

/// Why the TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("radsec.{key} {path}: {reason}")]
    File {
        key: &'static str,
        path: String,
        reason: String,
    },
    /// rustls refused the combination.
    #[error("radsec: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client certificate verifier could not be built (an empty CA file…).
    #[error("radsec.ca: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

fn file_error(key: &'static str, path: &Path, reason: impl ToString) -> TlsError {
    TlsError::File {
        key,
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

fn certificates(key: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(key, path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(key, path, e))?;
    if certs.is_empty() {
        return Err(file_error(key, path, "no PEM certificate in it"));
    }
    Ok(certs)
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
    for ca in certificates("ca", &config.ca)? {
        roots.add(ca).map_err(|e| file_error("ca", &config.ca, e))?;
    }
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build()?;
    let chain = certificates("certificate", &config.certificate)?;
    let key = PrivateKeyDer::from_pem_file(&config.key).map_err(|e| {
        file_error(
            "key",
            &config.key,
            format!("no usable PEM private key ({e})"),
        )
    })?;
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

//! The client side of RadSec's mutual TLS (RFC 6614 §2.3): the CA the server's
//! certificate must chain to, the NAS's own certificate and key, and the ALPN protocols
//! offered (RFC 9765 §3.1).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use rustls::ClientConfig;
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// The ALPN name of RADIUS/1.1 (RFC 9765 §3.1).
pub(crate) const ALPN_RADIUS_1_1: &str = "radius/1.1";

/// Builds the TLS client configuration: server certificates verified against the CAs in
/// `ca` (PEM), the client certificate chain `cert` and its key `key` (PEM: PKCS#8, SEC1
/// or PKCS#1) presented when the server asks, and `alpn` offered in that order.
pub(crate) fn client_config(
    ca: &Path,
    cert: &Path,
    key: &Path,
    alpn: &[String],
) -> anyhow::Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    let cas = CertificateDer::pem_file_iter(ca)
        .with_context(|| format!("cannot read the CA file {}", ca.display()))?;
    for c in cas {
        let c = c.with_context(|| format!("bad certificate in {}", ca.display()))?;
        roots
            .add(c)
            .with_context(|| format!("unusable CA certificate in {}", ca.display()))?;
    }
    if roots.is_empty() {
        bail!("no certificate in the CA file {}", ca.display());
    }
    let chain = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("cannot read the certificate file {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("bad certificate in {}", cert.display()))?;
    if chain.is_empty() {
        bail!("no certificate in {}", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("cannot read a private key from {}", key.display()))?;
    let mut config = ClientConfig::builder_with_provider(Arc::new(provider()))
        .with_safe_default_protocol_versions()
        .context("the ring provider supports no TLS version")?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .context("the client certificate and key do not go together")?;
    config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    Ok(Arc::new(config))
}

/// The crypto provider: aws-lc-rs, rustls's default and radiusd's (one rustls generation
/// and provider across the workspace).
fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}

/// The name the server's certificate must carry: `name` if given, else the server's IP
/// address (RFC 6614 §2.3 lets a NAS check either; scripts/pki.sh puts both 127.0.0.1
/// and localhost in the demo certificate).
pub(crate) fn server_name(
    name: Option<&str>,
    server: SocketAddr,
) -> anyhow::Result<ServerName<'static>> {
    match name {
        Some(n) => ServerName::try_from(n.to_owned())
            .with_context(|| format!("--server-name {n} is not a DNS name or IP address")),
        None => Ok(ServerName::IpAddress(server.ip().into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_name_defaults_to_the_address() {
        let server: SocketAddr = "127.0.0.1:2083".parse().unwrap();
        assert_eq!(
            server_name(None, server).unwrap(),
            ServerName::IpAddress(server.ip().into())
        );
        assert_eq!(
            server_name(Some("localhost"), server).unwrap(),
            ServerName::try_from("localhost").unwrap()
        );
        assert!(server_name(Some("not a name"), server).is_err());
    }

    #[test]
    fn missing_files_are_named() {
        let missing = Path::new("/nonexistent/ca.pem");
        let err = client_config(missing, missing, missing, &[]).unwrap_err();
        assert!(
            format!("{err:#}").contains("/nonexistent/ca.pem"),
            "{err:#}"
        );
    }
}

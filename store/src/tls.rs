//! TLS to PostgreSQL and Redis: rustls client configurations built from PEM files, on the
//! rustls generation and provider (aws-lc-rs) that RadSec uses.
//!
//! Three ways to check the server's certificate, after libpq's `sslmode`s:
//! - [`Verify::Full`]: the chain leads to a trusted CA and the certificate names the host
//!   dialled (`verify-full`, and always for Redis);
//! - [`Verify::Chain`]: the chain leads to a trusted CA, whatever name it carries
//!   (`verify-ca`: a database reached by an address its certificate does not list);
//! - [`Verify::Nothing`]: encryption without authentication (`prefer`/`require` without a
//!   CA file, as libpq does without a root certificate). It stops a passive listener, not a
//!   man in the middle; the handshake's signatures are still checked.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

/// How the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verify {
    /// Not at all: encryption only.
    Nothing,
    /// The chain, not the name.
    Chain,
    /// The chain and the name.
    Full,
}

/// The files a client configuration is made of, with the config keys that named them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Files<'a> {
    /// CA certificates (PEM) the server's chain must lead to; `None`: the system's trust
    /// store. Unused with [`Verify::Nothing`].
    pub(crate) ca: Option<(&'static str, &'a Path)>,
    /// Our certificate chain (PEM), for servers that authenticate clients by certificate.
    pub(crate) cert: Option<(&'static str, &'a Path)>,
    /// Its private key (PEM).
    pub(crate) key: Option<(&'static str, &'a Path)>,
}

/// Why a TLS configuration could not be built: the config key at fault and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsError {
    /// The key, e.g. `database.sslrootcert`.
    pub key: &'static str,
    /// What is wrong, with the file's path (never its contents).
    pub reason: String,
}

impl std::error::Error for TlsError {}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.reason)
    }
}

fn file_error(key: &'static str, path: &Path, reason: impl fmt::Display) -> TlsError {
    TlsError {
        key,
        reason: format!("{}: {reason}", path.display()),
    }
}

/// The certificates of the PEM file at `path` (at least one), which config key `key`
/// names: the one reader of certificate files for every TLS configuration (RadSec's
/// too), so they all say the same of a bad file.
pub fn pem_certificates(
    key: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(key, path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(key, path, e))?;
    if certs.is_empty() {
        return Err(file_error(key, path, "no PEM certificate in it"));
    }
    Ok(certs)
}

/// The private key (PKCS#8, PKCS#1 or SEC1) in the PEM file at `path`, which config key
/// `key` names.
pub fn pem_private_key(key: &'static str, path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| file_error(key, path, format!("no usable PEM private key ({e})")))
}

/// The trust anchors: the CA file's certificates, or the system's store.
fn roots(
    ca: Option<(&'static str, &Path)>,
    ca_key: &'static str,
) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    match ca {
        Some((key, path)) => {
            for cert in pem_certificates(key, path)? {
                roots.add(cert).map_err(|e| file_error(key, path, e))?;
            }
        }
        None => {
            // Unreadable entries of the system store are skipped, as every TLS client on
            // the system skips them; an empty store is an error below.
            let native = rustls_native_certs::load_native_certs();
            let (added, _ignored) = roots.add_parsable_certificates(native.certs);
            if added == 0 {
                return Err(TlsError {
                    key: ca_key,
                    reason: "not set, and the system's trust store holds no certificate".into(),
                });
            }
        }
    }
    Ok(roots)
}

/// A client configuration: TLS 1.3 or 1.2, the server checked as `verify` says, our
/// certificate offered when `files` names one. `ca_key` names the CA setting in errors
/// when the system store is used and empty.
pub(crate) fn client_config(
    verify: Verify,
    files: Files<'_>,
    ca_key: &'static str,
) -> Result<ClientConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let rustls_error = |e: rustls::Error| TlsError {
        key: ca_key,
        reason: e.to_string(),
    };
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(rustls_error)?;
    let builder = match verify {
        Verify::Full => builder.with_root_certificates(roots(files.ca, ca_key)?),
        Verify::Chain => {
            let webpki = WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots(files.ca, ca_key)?),
                provider,
            )
            .build()
            .map_err(|e| TlsError {
                key: ca_key,
                reason: e.to_string(),
            })?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ChainOnly { webpki }))
        }
        Verify::Nothing => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoCertificateCheck { provider })),
    };
    match (files.cert, files.key) {
        (None, None) => Ok(builder.with_no_client_auth()),
        (Some((cert_key, cert)), Some((key_key, key))) => {
            let chain = pem_certificates(cert_key, cert)?;
            let private = pem_private_key(key_key, key)?;
            builder
                .with_client_auth_cert(chain, private)
                .map_err(|e| file_error(key_key, key, e))
        }
        (Some((cert_key, _)), None) => Err(TlsError {
            key: cert_key,
            reason: "a client certificate needs its key too".into(),
        }),
        (None, Some((key_key, _))) => Err(TlsError {
            key: key_key,
            reason: "a client key needs its certificate too".into(),
        }),
    }
}

/// `verify-ca`: webpki's checks except the one of the name. webpki checks the chain
/// (trust anchor, validity, key usage, revocation lists) before the name, so a
/// `NotValidForName` means everything else passed.
#[derive(Debug)]
struct ChainOnly {
    webpki: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// `prefer`/`require` without a CA: any certificate, but the handshake signatures must be
/// made with its key, so the session is at least bound to that key.
#[derive(Debug)]
struct NoCertificateCheck {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for NoCertificateCheck {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(verify: Verify, files: Files<'_>) -> TlsError {
        client_config(verify, files, "ca").unwrap_err()
    }

    #[test]
    fn unusable_files_name_their_key() {
        let dir = std::env::temp_dir().join(format!("proisp-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let missing = dir.join("missing.pem");
        let none = Files {
            ca: None,
            cert: None,
            key: None,
        };

        let e = error(
            Verify::Full,
            Files {
                ca: Some(("ca", &empty)),
                ..none
            },
        );
        assert_eq!(e.key, "ca");
        assert!(e.reason.contains("no PEM certificate"), "{e}");
        let e = error(
            Verify::Chain,
            Files {
                ca: Some(("ca", &missing)),
                ..none
            },
        );
        assert!(e.reason.contains("missing.pem"), "{e}");
        let e = error(
            Verify::Nothing,
            Files {
                cert: Some(("cert", &empty)),
                ..none
            },
        );
        assert_eq!(e.key, "cert");
        let e = error(
            Verify::Nothing,
            Files {
                cert: Some(("cert", &empty)),
                key: Some(("key", &missing)),
                ..none
            },
        );
        assert_eq!(e.key, "cert");
        // Without verification no CA file is read.
        assert!(client_config(Verify::Nothing, none, "ca").is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

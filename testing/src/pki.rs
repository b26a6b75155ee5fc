//! A throwaway PKI for RadSec tests and for the TLS of private PostgreSQL and Redis
//! servers: a CA, a server certificate for 127.0.0.1 and localhost, NAS client
//! certificates, and the ones a peer must refuse (from another CA, expired, naming another
//! host), written as PEM files into a directory.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, date_time_ymd,
};

/// A certificate and its key, as files.
#[derive(Debug, Clone)]
pub struct Pair {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM, PKCS#8).
    pub key: PathBuf,
}

/// The PKI's files.
#[derive(Debug, Clone)]
pub struct Pki {
    /// The CA certificate (PEM) both sides trust.
    pub ca: PathBuf,
    /// radiusd's certificate: serverAuth, for 127.0.0.1, ::1 and localhost.
    pub server: Pair,
    /// A serverAuth certificate of the right CA for `elsewhere.proisp.test` only: a server
    /// at 127.0.0.1 presenting it passes a chain check and fails a name check.
    pub misnamed: Pair,
    /// A NAS's client certificate: clientAuth, subject CN and DNS name `nas_name`.
    pub nas: Pair,
    /// Another client certificate of the right CA, for `other.proisp.test`: a name no NAS
    /// lists, so the address names its NAS.
    pub other: Pair,
    /// A client certificate from a CA radiusd does not trust, with the same name.
    pub stranger: Pair,
    /// A client certificate of the right CA that expired in 2021.
    pub expired: Pair,
}

/// Why the PKI could not be made.
type Error = Box<dyn std::error::Error + Send + Sync>;

impl Pki {
    /// Creates the files in `dir` (which must exist); the NAS certificates name
    /// `nas_name`.
    pub fn generate(dir: &Path, nas_name: &str) -> Result<Pki, Error> {
        let (ca_params, ca_key) = ca("ProISP test CA")?;
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let ca_path = dir.join("ca.pem");
        std::fs::write(&ca_path, ca_cert.pem())?;
        let issuer = Issuer::new(ca_params, ca_key);

        let server = leaf(
            dir,
            "server",
            &issuer,
            &["127.0.0.1", "::1", "localhost"],
            ExtendedKeyUsagePurpose::ServerAuth,
            false,
        )?;
        let misnamed = leaf(
            dir,
            "misnamed",
            &issuer,
            &["elsewhere.proisp.test"],
            ExtendedKeyUsagePurpose::ServerAuth,
            false,
        )?;
        let nas = leaf(
            dir,
            "nas",
            &issuer,
            &[nas_name],
            ExtendedKeyUsagePurpose::ClientAuth,
            false,
        )?;
        let other = leaf(
            dir,
            "other",
            &issuer,
            &["other.proisp.test"],
            ExtendedKeyUsagePurpose::ClientAuth,
            false,
        )?;
        let expired = leaf(
            dir,
            "expired",
            &issuer,
            &[nas_name],
            ExtendedKeyUsagePurpose::ClientAuth,
            true,
        )?;
        let (other_params, other_key) = ca("Somebody else's CA")?;
        let strange_ca = Issuer::new(other_params, other_key);
        let stranger = leaf(
            dir,
            "stranger",
            &strange_ca,
            &[nas_name],
            ExtendedKeyUsagePurpose::ClientAuth,
            false,
        )?;
        Ok(Pki {
            ca: ca_path,
            server,
            misnamed,
            nas,
            other,
            stranger,
            expired,
        })
    }
}

fn ca(name: &str) -> Result<(CertificateParams, KeyPair), Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok((params, KeyPair::generate()?))
}

fn leaf(
    dir: &Path,
    name: &str,
    issuer: &Issuer<'_, KeyPair>,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
    expired: bool,
) -> Result<Pair, Error> {
    let mut params = CertificateParams::new(
        names
            .iter()
            .map(|n| (*n).to_owned())
            .collect::<Vec<String>>(),
    )?;
    if let Some(first) = names.first() {
        params.distinguished_name.push(DnType::CommonName, *first);
    }
    params.extended_key_usages = vec![usage];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    if expired {
        params.not_before = date_time_ymd(2020, 1, 1);
        params.not_after = date_time_ymd(2021, 1, 1);
    }
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, issuer)?;
    let pair = Pair {
        cert: dir.join(format!("{name}.pem")),
        key: dir.join(format!("{name}.key")),
    };
    std::fs::write(&pair.cert, cert.pem())?;
    std::fs::write(&pair.key, key.serialize_pem())?;
    Ok(pair)
}

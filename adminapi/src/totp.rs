//! TOTP two-factor login (RFC 6238: SHA-1, 6 digits, 30 s steps, one step of skew — what
//! every authenticator app implements). Secrets are 160 random bits (RFC 4226 §4), kept
//! encrypted with the deployment key; a code is accepted once (the step is remembered).

use proisp_store::{Keyring, Label, Purpose, StoreError};
use rand::RngCore as _;
use totp_rs::{Algorithm, Builder, Totp};
use zeroize::Zeroizing;

/// Octets of a new secret.
const SECRET_LEN: usize = 20;

/// The label TOTP secrets are sealed under: theirs alone, so neither a NAS secret nor a
/// subscriber password pasted into `admins.totp_secret_enc` opens as one.
const LABEL: Label = Label::new("proisp/admin-totp-secret/v1");

/// How secrets were sealed before they had a label of their own: under the NAS-secret
/// purpose, behind this prefix inside the plaintext (which kept a NAS secret, sealed under
/// the same purpose, from passing as a TOTP secret). Secrets enrolled then are still read
/// this way; every secret sealed now uses [`LABEL`], so re-enrolling moves one over.
const LEGACY_PURPOSE: Purpose = Purpose::NasSecret;
const LEGACY_PREFIX: &[u8] = b"proisp/admin-totp/v1:";

/// A fresh random secret.
pub fn generate() -> Zeroizing<Vec<u8>> {
    let mut s = Zeroizing::new(vec![0u8; SECRET_LEN]);
    rand::rng().fill_bytes(&mut s);
    s
}

/// The secret encrypted for the database.
pub fn seal(keys: &Keyring, secret: &[u8]) -> Vec<u8> {
    keys.encrypt(LABEL, secret)
}

/// The secret from the database, sealed now or the way it was before TOTP had a label
/// of its own.
pub fn open(keys: &Keyring, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, StoreError> {
    if let Ok(secret) = keys.decrypt(LABEL, sealed) {
        return Ok(secret);
    }
    let plain = keys.decrypt(LEGACY_PURPOSE, sealed)?;
    match plain.strip_prefix(LEGACY_PREFIX) {
        Some(secret) => Ok(Zeroizing::new(secret.to_vec())),
        None => Err(StoreError::Crypto),
    }
}

fn totp(secret: &[u8], issuer: &str, account: &str) -> Option<Totp> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_skew(1)
        .with_secret(secret.to_vec())
        .with_issuer(Some(issuer.replace(':', "")))
        .with_account_name(account.replace(':', ""))
        .build()
        .ok()
}

/// The `otpauth://totp/…` URL an authenticator app scans.
pub fn url(secret: &[u8], issuer: &str, account: &str) -> Option<String> {
    totp(secret, issuer, account)?.to_url().ok()
}

/// The time step `code` is valid for at `now` (Unix seconds), if it is; a step at or
/// below `last_step` (already used) is refused.
pub fn check(secret: &[u8], code: &str, now: u64, last_step: u64) -> Option<u64> {
    let step = totp(secret, "x", "x")?.check(code.trim(), now)?;
    (step > last_step).then_some(step)
}

/// The code for `now`: for tests and tools.
pub fn code_at(secret: &[u8], now: u64) -> String {
    totp(secret, "x", "x")
        .map(|t| t.generate(now).to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_verify_once_and_secrets_seal() {
        let secret = generate();
        let now = 1_800_000_000;
        let code = code_at(&secret, now);
        assert_eq!(code.len(), 6);
        let step = check(&secret, &code, now, 0).unwrap();
        assert_eq!(step, now / 30);
        assert_eq!(check(&secret, &code, now, step), None, "replayed");
        assert_eq!(check(&secret, &code, now + 300, 0), None, "too late");
        assert_eq!(check(&secret, "12345x", now, 0), None);

        let keys = Keyring::from_key(&[9; 32]);
        let sealed = seal(&keys, &secret);
        assert_eq!(&open(&keys, &sealed).unwrap()[..], &secret[..]);
        let nas = keys.encrypt(Purpose::NasSecret, b"testing123");
        assert!(open(&keys, &nas).is_err());
        let password = keys.encrypt(Purpose::SubscriberPassword, &secret);
        assert!(open(&keys, &password).is_err());
        assert!(open(&Keyring::from_key(&[8; 32]), &sealed).is_err());

        let url = url(&secret, "ProISP", "alice").unwrap();
        assert!(url.starts_with("otpauth://totp/ProISP:alice?"), "{url}");
        assert!(url.contains("secret="), "{url}");
    }

    #[test]
    fn secrets_sealed_before_totp_had_its_own_label_still_verify() {
        let keys = Keyring::from_key(&[9; 32]);
        let secret = generate();
        // Exactly what `seal` wrote until TOTP had a label of its own.
        let mut plain = b"proisp/admin-totp/v1:".to_vec();
        plain.extend_from_slice(&secret);
        let old = keys.encrypt(Purpose::NasSecret, &plain);

        let opened = open(&keys, &old).unwrap();
        assert_eq!(&opened[..], &secret[..]);
        let now = 1_800_000_000;
        assert_eq!(
            check(&opened, &code_at(&secret, now), now, 0),
            Some(now / 30)
        );

        // A secret sealed now is sealed under the new label only.
        let new = seal(&keys, &secret);
        assert!(keys.decrypt(Purpose::NasSecret, &new).is_err());
        assert_eq!(&keys.decrypt(LABEL, &new).unwrap()[..], &secret[..]);
    }
}

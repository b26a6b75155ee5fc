//! TOTP two-factor login (RFC 6238: SHA-1, 6 digits, 30 s steps, one step of skew — what
//! every authenticator app implements). Secrets are 160 random bits (RFC 4226 §4), kept
//! encrypted with the deployment key; a code is accepted once (the step is remembered).

use proisp_store::{Keyring, Purpose, StoreError};
use rand::RngCore as _;
use totp_rs::{Algorithm, Builder, Totp};
use zeroize::Zeroizing;

/// Octets of a new secret.
const SECRET_LEN: usize = 20;

/// The purpose TOTP secrets are encrypted under. The store's purposes cover subscriber
/// passwords and NAS secrets; an admin's TOTP secret reuses the NAS-secret purpose with a
/// prefix inside the plaintext, so a NAS secret pasted into `admins.totp_secret_enc`
/// (which would decrypt) is still refused.
const PURPOSE: Purpose = Purpose::NasSecret;
const PREFIX: &[u8] = b"proisp/admin-totp/v1:";

/// A fresh random secret.
pub fn generate() -> Zeroizing<Vec<u8>> {
    let mut s = Zeroizing::new(vec![0u8; SECRET_LEN]);
    rand::rng().fill_bytes(&mut s);
    s
}

/// The secret encrypted for the database.
pub fn seal(keys: &Keyring, secret: &[u8]) -> Vec<u8> {
    let mut plain = Zeroizing::new(PREFIX.to_vec());
    plain.extend_from_slice(secret);
    keys.encrypt(PURPOSE, &plain)
}

/// The secret from the database.
pub fn open(keys: &Keyring, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, StoreError> {
    let plain = keys.decrypt(PURPOSE, sealed)?;
    match plain.strip_prefix(PREFIX) {
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

        let url = url(&secret, "ProISP", "alice").unwrap();
        assert!(url.starts_with("otpauth://totp/ProISP:alice?"), "{url}");
        assert!(url.contains("secret="), "{url}");
    }
}

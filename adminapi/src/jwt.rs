//! Access tokens: compact JWS (RFC 7515) with HS256 (RFC 7518 §3.2), and nothing else.
//!
//! Written here on hmac + sha2 rather than taken from jsonwebtoken because that crate's
//! only pure-Rust backend links RSA and elliptic-curve code we never use (among it `rsa`,
//! with an advisory without a fix, RUSTSEC-2023-0071, which deny.toml would have to
//! ignore). Accepting a single algorithm also closes the classic JWT holes by
//! construction: the header must be exactly the one we issue, so `alg: none` or an
//! RS256/HS256 confusion can never reach the signature check.

use std::fmt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac as _};
use proisp_store::read_key_file;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::permission::Role;

type HmacSha256 = Hmac<Sha256>;

/// `base64url({"alg":"HS256","typ":"JWT"})`: the only header issued or accepted.
const HEADER: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

/// Octets of a signing key.
pub const KEY_LEN: usize = 32;

/// What a token lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Everything the admin's role allows.
    Full,
    /// Only enrolling TOTP (`/auth/totp/*`, `/auth/me`, `/auth/logout`): an admin whose
    /// role requires two-factor login and who has not enrolled yet.
    TotpEnroll,
}

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The admin's id.
    pub sub: i64,
    /// The admin's username (for logs; the id is authoritative).
    pub name: String,
    /// The role when the token was issued (the current role is read per request).
    pub role: Role,
    /// Token id: what logout blacklists.
    pub jti: String,
    /// Issued at, Unix seconds.
    pub iat: u64,
    /// Expires at, Unix seconds.
    pub exp: u64,
    /// The refresh-token family issued with this token, which logout revokes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fam: Option<i64>,
    /// What the token allows.
    pub scope: Scope,
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three parts, not our header, bad base64 or JSON, or a wrong signature.
    #[error("malformed or forged token")]
    Invalid,
    /// Past `exp`.
    #[error("token expired")]
    Expired,
}

/// The HS256 key. `Debug` never shows it.
pub struct JwtKey {
    key: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtKey(<redacted>)")
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `n` random octets as unpadded base64url.
pub fn random_token(n: usize) -> String {
    let mut buf = Zeroizing::new(vec![0u8; n]);
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(&*buf)
}

impl JwtKey {
    /// A key from raw octets (at least [`KEY_LEN`]).
    pub fn from_bytes(key: &[u8]) -> JwtKey {
        JwtKey {
            key: Zeroizing::new(key.to_vec()),
        }
    }

    /// A random key, for a process without a key file.
    pub fn random() -> JwtKey {
        let mut key = Zeroizing::new(vec![0u8; KEY_LEN]);
        rand::rng().fill_bytes(&mut key);
        JwtKey { key }
    }

    /// Reads a key file: 64 hex digits (the `gen-key` format), whitespace ignored. The
    /// error names the file, never its content.
    pub fn from_file(path: &Path) -> Result<JwtKey, String> {
        let key = read_key_file(path).map_err(|e| e.to_string())?;
        Ok(JwtKey {
            key: Zeroizing::new(key.to_vec()),
        })
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes keys of any length; this cannot fail.
        <HmacSha256 as hmac::KeyInit>::new_from_slice(&self.key)
            .unwrap_or_else(|_| <HmacSha256 as hmac::KeyInit>::new(&Default::default()))
    }

    /// Signs `claims` into a compact token.
    pub fn sign(&self, claims: &Claims) -> String {
        // Serialising a struct of strings and integers cannot fail.
        let payload = serde_json::to_vec(claims).unwrap_or_default();
        let mut token = format!("{HEADER}.{}", URL_SAFE_NO_PAD.encode(payload));
        let mut mac = self.mac();
        mac.update(token.as_bytes());
        let sig = mac.finalize().into_bytes();
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(sig));
        token
    }

    /// Verifies the signature (constant time) and the expiry at `now` (Unix seconds).
    pub fn verify(&self, token: &str, now: u64) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Invalid);
        };
        if header != HEADER {
            return Err(TokenError::Invalid);
        }
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| TokenError::Invalid)?;
        let mut mac = self.mac();
        mac.update(&token.as_bytes()[..header.len() + 1 + payload.len()]);
        mac.verify_slice(&sig).map_err(|_| TokenError::Invalid)?;
        let json = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Invalid)?;
        let claims: Claims = serde_json::from_slice(&json).map_err(|_| TokenError::Invalid)?;
        if claims.exp <= now {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

/// Claims for a new token of `ttl` from `now`.
pub fn claims(
    admin_id: i64,
    name: &str,
    role: Role,
    fam: Option<i64>,
    scope: Scope,
    ttl: Duration,
) -> Claims {
    let now = unix_now();
    Claims {
        sub: admin_id,
        name: name.to_owned(),
        role,
        jti: random_token(16),
        iat: now,
        exp: now + ttl.as_secs().max(1),
        fam,
        scope,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Claims {
        claims(
            7,
            "alice",
            Role::Admin,
            Some(3),
            Scope::Full,
            Duration::from_secs(60),
        )
    }

    #[test]
    fn round_trip_and_expiry() {
        let key = JwtKey::random();
        let c = sample();
        let token = key.sign(&c);
        assert!(token.starts_with(HEADER));
        assert_eq!(key.verify(&token, unix_now()).unwrap(), c);
        assert_eq!(key.verify(&token, c.exp), Err(TokenError::Expired));
        assert_eq!(
            JwtKey::random().verify(&token, unix_now()),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn tampering_and_other_algorithms_are_refused() {
        let key = JwtKey::random();
        let token = key.sign(&sample());
        let (head_payload, sig) = token.rsplit_once('.').unwrap();
        let (_, payload) = head_payload.split_once('.').unwrap();
        // alg "none", no signature.
        let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert_eq!(
            key.verify(&format!("{none}.{payload}."), unix_now()),
            Err(TokenError::Invalid)
        );
        // Another header with the same signature.
        let hs512 = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS512","typ":"JWT"}"#);
        assert_eq!(
            key.verify(&format!("{hs512}.{payload}.{sig}"), unix_now()),
            Err(TokenError::Invalid)
        );
        // A payload changed to superadmin.
        let mut forged = sample();
        forged.role = Role::Superadmin;
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        assert_eq!(
            key.verify(&format!("{HEADER}.{forged_payload}.{sig}"), unix_now()),
            Err(TokenError::Invalid)
        );
        assert_eq!(key.verify("", unix_now()), Err(TokenError::Invalid));
        assert_eq!(
            key.verify(&format!("{token}.x"), unix_now()),
            Err(TokenError::Invalid)
        );
        assert_eq!(format!("{key:?}"), "JwtKey(<redacted>)");
    }

    #[test]
    fn key_files() {
        let path = std::env::temp_dir().join(format!("proisp-jwt-{}.key", std::process::id()));
        std::fs::write(&path, format!("{}\n", "ab".repeat(32))).unwrap();
        let key = JwtKey::from_file(&path).unwrap();
        assert_eq!(&key.key[..], &[0xab; 32]);
        std::fs::write(&path, "abc").unwrap();
        let err = JwtKey::from_file(&path).unwrap_err();
        assert!(
            err.contains("64 hex digits") && !err.contains("abc"),
            "{err}"
        );
        std::fs::remove_file(&path).unwrap();
    }
}

//! Admin passwords: argon2id (RFC 9106) with the crate's defaults (19 MiB, 2 passes, 1
//! lane: OWASP's recommended minimum), stored as PHC strings so the parameters can be
//! raised later without invalidating existing hashes.
//!
//! Hashing costs tens of milliseconds of CPU: callers run it on the blocking pool
//! (`web::block`), never on an async worker.

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore as _;

/// Shortest password accepted for an admin.
pub const MIN_LEN: usize = 12;
/// Longest (argon2 takes any length; this bounds the work a request can ask for).
pub const MAX_LEN: usize = 1024;

fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

/// Why a new password is refused (the message names no part of it).
pub fn check_policy(password: &str) -> Result<(), &'static str> {
    let len = password.chars().count();
    if len < MIN_LEN {
        return Err("must be at least 12 characters");
    }
    if password.len() > MAX_LEN {
        return Err("must be at most 1024 octets");
    }
    Ok(())
}

/// The PHC string of `password` under a fresh random salt.
pub fn hash(password: &str) -> String {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    // Fails only for parameters or salts out of range, which these are not.
    argon2()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .unwrap_or_default()
}

/// Whether `password` matches the PHC string `phc` (constant time in the password).
pub fn verify(password: &str, phc: &str) -> bool {
    password.len() <= MAX_LEN && argon2().verify_password(password.as_bytes(), phc).is_ok()
}

/// A hash to verify against when the username does not exist, so that an unknown name
/// costs as much time as a wrong password and cannot be told apart by timing.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash("not a real password, never matches"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash("correct horse battery");
        assert!(h.starts_with("$argon2id$v=19$"), "{h}");
        assert!(!h.contains("correct horse"));
        assert!(verify("correct horse battery", &h));
        assert!(!verify("correct horse batterY", &h));
        assert_ne!(h, hash("correct horse battery"));
        assert!(!verify("x", "not a phc string"));
        assert!(!verify("x", dummy_hash()));
        assert!(check_policy("short").is_err());
        assert!(check_policy("long enough password").is_ok());
    }
}

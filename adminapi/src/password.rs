//! Admin passwords: argon2id (RFC 9106) with the crate's defaults (19 MiB, 2 passes, 1
//! lane: OWASP's recommended minimum), stored as PHC strings so the parameters can be
//! raised later without invalidating existing hashes.
//!
//! Hashing costs tens of milliseconds of CPU: callers run it on the blocking pool
//! (`web::block`), never on an async worker.

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use std::collections::HashSet;
use std::sync::OnceLock;

use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore as _;

/// Shortest password accepted for an admin.
pub const MIN_LEN: usize = 12;
/// Longest (argon2 takes any length; this bounds the work a request can ask for).
pub const MAX_LEN: usize = 1024;

fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

/// The commonest passwords, most common first: Openwall's `password.lst` (3,546
/// entries, public domain; Debian's john-data ships it), compared in lower case.
const COMMON: &str = include_str!("../data/common-passwords.txt");

fn common() -> &'static HashSet<String> {
    static SET: OnceLock<HashSet<String>> = OnceLock::new();
    SET.get_or_init(|| {
        COMMON
            .lines()
            .filter(|l| !l.starts_with("#!comment:") && !l.is_empty())
            .map(str::to_lowercase)
            .collect()
    })
}

/// Why `password` is too easy to guess for the account `username`, if it is: the
/// username itself (any case, reversed, or inside it), or one of the commonest passwords,
/// also with digits or symbols around it (`Password123!`). NUL is refused too: RADIUS
/// pads passwords with NULs. Applies to every password an admin chooses, admins' and
/// subscribers' alike (the message names no part of it).
pub fn check_guessable(username: &str, password: &str) -> Result<(), &'static str> {
    if password.contains('\0') {
        return Err("must not contain NUL characters");
    }
    let pw = password.to_lowercase();
    let user = username.to_lowercase();
    let resu: String = user.chars().rev().collect();
    let inside = user.chars().count() >= 3 && (pw.contains(&user) || pw.contains(&resu));
    if !user.is_empty() && (pw == user || pw == resu || inside) {
        return Err("must not be or contain the username");
    }
    let core = pw.trim_matches(|c: char| !c.is_alphabetic());
    if common().contains(&pw) || (!core.is_empty() && common().contains(core)) {
        return Err("is one of the commonest passwords: choose another");
    }
    Ok(())
}

/// Why a new admin password is refused (the message names no part of it).
pub fn check_policy(username: &str, password: &str) -> Result<(), &'static str> {
    let len = password.chars().count();
    if len < MIN_LEN {
        return Err("must be at least 12 characters");
    }
    if password.len() > MAX_LEN {
        return Err("must be at most 1024 octets");
    }
    check_guessable(username, password)
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
    static DUMMY: OnceLock<String> = OnceLock::new();
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
    }

    #[test]
    fn policy_refuses_short_common_and_username_passwords() {
        assert!(check_policy("alice", "short").is_err());
        assert!(check_policy("alice", "long enough password").is_ok());
        let why = |u: &str, p: &str| check_policy(u, p).unwrap_err();
        assert_eq!(
            why("noc-admin", "NOC-ADMIN"),
            "must be at least 12 characters"
        );
        assert_eq!(
            why("administrator", "Administrator"),
            "must not be or contain the username"
        );
        for (user, pw) in [
            ("netadministrator", "NetAdministrator"),
            ("netadministrator", "rotartsinimdaten"),
            ("alice", "my-name-is-Alice!"),
            ("alice", "ecila-backwards-1"),
        ] {
            assert_eq!(why(user, pw), "must not be or contain the username", "{pw}");
        }
        for pw in [
            "winniethepooh",
            "WinnieThePooh",
            "Password123456!",
            "123456iloveyou",
        ] {
            assert_eq!(
                why("alice", pw),
                "is one of the commonest passwords: choose another",
                "{pw}"
            );
        }
        assert!(check_policy("alice", "nul\0inside-a-password").is_err());
        // Subscribers: no length rule here, the same guessability rules.
        assert!(check_guessable("user1", "123456").is_err());
        assert!(check_guessable("user1", "user1").is_err());
        assert!(
            check_guessable("ab", "abab-x7").is_ok(),
            "short names match only whole"
        );
        assert!(check_guessable("user1", "k7#Qv2mz").is_ok());
        assert!(common().len() > 3_000);
        assert!(common().contains("password"));
    }
}

//! The subscribers a run logs in: `user%06d` / `pw%06d` for a range of numbers (what the
//! data layer's seed command creates), or name/password pairs read from a file.

use std::path::Path;

use anyhow::{Context, bail};

/// Longest user name or password accepted from a file (RFC 2865 §5.2 caps User-Password at
/// 128 octets; names this long are already absurd).
const MAX_LEN: usize = 128;

/// Room for a formatted name: "user" + 20 digits.
pub(crate) const NAME_BUF: usize = 32;

/// A name and its password, as read from a users file.
pub(crate) type Pair = (Box<[u8]>, Box<[u8]>);

/// Where names and passwords come from.
#[derive(Debug, Clone)]
pub(crate) enum Subscribers {
    /// `user{n:06}` / `pw{n:06}` for `n` in `first..first + count`.
    Pattern {
        /// The first number.
        first: u64,
        /// How many subscribers.
        count: u64,
    },
    /// Explicit pairs.
    List(Vec<Pair>),
}

impl Subscribers {
    /// Reads `name password` pairs, one per line, separated by whitespace; blank lines
    /// and lines starting with `#` are skipped.
    pub(crate) fn from_file(path: &Path) -> anyhow::Result<Subscribers> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read users file {}", path.display()))?;
        Subscribers::parse(&text).with_context(|| format!("in users file {}", path.display()))
    }

    fn parse(text: &str) -> anyhow::Result<Subscribers> {
        let mut list = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split_whitespace();
            let (Some(name), Some(password), None) = (fields.next(), fields.next(), fields.next())
            else {
                bail!("line {}: expected `name password`", n + 1);
            };
            if name.len() > MAX_LEN || password.len() > MAX_LEN {
                bail!(
                    "line {}: name or password longer than {MAX_LEN} octets",
                    n + 1
                );
            }
            list.push((name.as_bytes().into(), password.as_bytes().into()));
        }
        if list.is_empty() {
            bail!("no subscribers");
        }
        Ok(Subscribers::List(list))
    }

    /// How many subscribers there are.
    pub(crate) fn len(&self) -> u64 {
        match self {
            Subscribers::Pattern { count, .. } => *count,
            Subscribers::List(list) => list.len() as u64,
        }
    }

    /// The name and password of subscriber `i % len`, formatted into the caller's buffers
    /// (no allocation per request).
    pub(crate) fn get<'a>(
        &'a self,
        i: u64,
        name: &'a mut [u8; NAME_BUF],
        password: &'a mut [u8; NAME_BUF],
    ) -> (&'a [u8], &'a [u8]) {
        match self {
            Subscribers::Pattern { first, count } => {
                let n = first + i % count;
                (
                    format_padded(name, b"user", n),
                    format_padded(password, b"pw", n),
                )
            }
            Subscribers::List(list) => {
                let (n, p) = &list[(i % list.len() as u64) as usize];
                (n, p)
            }
        }
    }
}

/// Writes `prefix` and `n` zero-padded to six digits (more if needed), as C's
/// `"%s%06d"` would.
pub(crate) fn format_padded<'a>(buf: &'a mut [u8; NAME_BUF], prefix: &[u8], n: u64) -> &'a [u8] {
    let mut digits = [b'0'; 20];
    let mut len = 0;
    let mut v = n;
    loop {
        digits[19 - len] = b'0' + (v % 10) as u8;
        len += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let width = len.max(6);
    buf[..prefix.len()].copy_from_slice(prefix);
    let out = &mut buf[prefix.len()..prefix.len() + width];
    out.fill(b'0');
    out[width - len..].copy_from_slice(&digits[20 - len..]);
    &buf[..prefix.len() + width]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_names_match_the_seed_command() {
        let s = Subscribers::Pattern { first: 1, count: 3 };
        let (mut a, mut b) = ([0; NAME_BUF], [0; NAME_BUF]);
        assert_eq!(
            s.get(0, &mut a, &mut b),
            (&b"user000001"[..], &b"pw000001"[..])
        );
        assert_eq!(
            s.get(2, &mut a, &mut b),
            (&b"user000003"[..], &b"pw000003"[..])
        );
        assert_eq!(s.get(3, &mut a, &mut b).0, b"user000001", "wraps around");
        assert_eq!(s.len(), 3);
        let mut buf = [0; NAME_BUF];
        assert_eq!(format_padded(&mut buf, b"user", 0), b"user000000");
        assert_eq!(format_padded(&mut buf, b"user", 1_234_567), b"user1234567");
        assert_eq!(
            format_padded(&mut buf, b"user", u64::MAX),
            b"user18446744073709551615"
        );
    }

    #[test]
    fn files_hold_name_password_pairs() {
        let s = Subscribers::parse("# comment\n\nalice s3cret\n  bob\tpw2  \n").unwrap();
        assert_eq!(s.len(), 2);
        let (mut a, mut b) = ([0; NAME_BUF], [0; NAME_BUF]);
        assert_eq!(s.get(1, &mut a, &mut b), (&b"bob"[..], &b"pw2"[..]));
        let err = Subscribers::parse("alice\n").unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
        assert!(Subscribers::parse("a b c\n").is_err());
        assert!(Subscribers::parse("# nobody\n").is_err());
        assert!(Subscribers::parse(&format!("a {}\n", "x".repeat(129))).is_err());
    }
}

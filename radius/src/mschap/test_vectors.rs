//! The RFCs' test vectors, read from `radius/tests/vectors/`, for the unit tests.

use std::collections::HashMap;

pub(super) const RFC2759_9_2: &str = include_str!("../../tests/vectors/rfc2759_9_2.hex");
pub(super) const RFC3079_3_5_3: &str = include_str!("../../tests/vectors/rfc3079_3_5_3.hex");
pub(super) const RFC2433_B: &str = include_str!("../../tests/vectors/rfc2433_b.hex");

/// A vector file: `name = hex` per line, `#` starts a comment.
pub(super) struct Vectors(HashMap<String, Vec<u8>>);

impl Vectors {
    pub(super) fn parse(text: &str) -> Vectors {
        let mut map = HashMap::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let (name, value) = line.split_once('=').expect("`name = hex` line");
            let value = hex::decode(value.trim()).expect("hex value");
            assert!(
                map.insert(name.trim().to_owned(), value).is_none(),
                "duplicate {name}"
            );
        }
        Vectors(map)
    }

    pub(super) fn bytes(&self, name: &str) -> &[u8] {
        self.0
            .get(name)
            .unwrap_or_else(|| panic!("vector {name} missing"))
    }

    pub(super) fn get<const N: usize>(&self, name: &str) -> [u8; N] {
        self.bytes(name)
            .try_into()
            .unwrap_or_else(|_| panic!("vector {name} is not {N} octets"))
    }

    /// A password the RFC prints in UTF-16LE, as the UTF-8 a database holds.
    pub(super) fn password(&self, name: &str) -> String {
        let units: Vec<u16> = self
            .bytes(name)
            .chunks_exact(2)
            .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
            .collect();
        String::from_utf16(&units).expect("UTF-16 password")
    }
}

//! Integration tests of the codec: RFC vectors, RADIUS/1.1, property tests and the fuzz
//! corpus.

mod fuzz_corpus;
mod properties;
mod radius11;
mod vectors;

/// Reads a hex vector file from tests/vectors: `#` starts a comment line, whitespace is
/// ignored.
pub(crate) fn vector(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let digits: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
        .collect();
    hex::decode(digits).unwrap_or_else(|e| panic!("{name}: {e}"))
}

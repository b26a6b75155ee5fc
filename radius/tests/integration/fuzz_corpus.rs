//! Replays the cargo-fuzz corpus (fuzz/corpus/decode) through the fuzz target's entry
//! point, so stable-Rust CI exercises every input the fuzzer kept.

use proisp_radius::fuzz;

#[test]
fn replays_the_fuzz_corpus() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/decode");
    let mut replayed = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        fuzz::exercise(&std::fs::read(&path).unwrap());
        replayed += 1;
    }
    // The seed corpus alone holds the RFC vectors; an empty directory means a broken path.
    assert!(
        replayed >= 8,
        "only {replayed} corpus inputs in {}",
        dir.display()
    );
}

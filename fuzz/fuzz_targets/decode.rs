//! Fuzzes the RADIUS codec with arbitrary datagrams; see `proisp_radius::fuzz`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    proisp_radius::fuzz::exercise(data);
});

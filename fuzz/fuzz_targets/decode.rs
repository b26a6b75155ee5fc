//! Fuzzes the RADIUS codec with arbitrary datagrams; see `proisp_shared::radius::fuzz`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    proisp_shared::radius::fuzz::exercise(data);
});

//! proisp-loadtest: placeholder until the load generator lands.
fn main() {}

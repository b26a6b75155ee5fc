//! ProISP's shared library.
//!
//! [`radius`] is the sans-IO RADIUS protocol: it turns datagrams into typed packets and
//! back and knows nothing about sockets, Redis or PostgreSQL, so it can be tested against
//! RFC vectors and fuzzed on its own. [`model`] holds the domain types (plans,
//! subscribers, NAS devices); `store` (feature `store`) is PostgreSQL and the Redis cache
//! contract, behind a cargo feature so the load generator links only the codec; `coa`
//! (feature `coa`) is the RFC 5176 CoA / Disconnect client, the sockets and retries around
//! [`radius::dynauth`]; feature `testing` adds the integration-test harness
//! (`store::testing`) and implies `coa`.
#![forbid(unsafe_code)]

#[cfg(feature = "coa")]
pub mod coa;
pub mod model;
pub mod radius;
#[cfg(feature = "store")]
pub mod store;

//! ProISP's shared library.
//!
//! [`radius`] is the sans-IO RADIUS protocol: it turns datagrams into typed packets and
//! back and knows nothing about sockets, Redis or PostgreSQL, so it can be tested against
//! RFC vectors and fuzzed on its own. The domain model and the store come with the
//! data-layer issue, behind cargo features, so the load generator links only the codec.
#![forbid(unsafe_code)]

pub mod model;
pub mod radius;

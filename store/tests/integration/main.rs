//! Integration tests of the store against real PostgreSQL and Redis (feature `testing`).

#[cfg(feature = "testing")]
mod accounting;
#[cfg(feature = "testing")]
mod feed;
#[cfg(feature = "testing")]
mod store;

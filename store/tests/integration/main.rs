//! Integration tests of the store against real PostgreSQL and Redis.

mod feed;
mod journal;
mod replica;
mod store;
mod tls;

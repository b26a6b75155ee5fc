//! Integration tests of the store against real PostgreSQL and Redis.

mod cluster;
mod deferred;
mod feed;
mod journal;
mod replica;
mod store;
mod tls;

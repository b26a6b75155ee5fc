//! proisp-radiusd end to end: the real binary, real PostgreSQL and Redis, and real RADIUS
//! clients (radclient from freeradius-utils, and requests built with the codec where no
//! packaged client speaks the method).

mod accounting;
mod assets;
mod auth;
mod coa_lanes;
mod coherence;
mod events;
mod failover;
mod faults;
mod harness;
mod interop_radsec;
mod journal;
mod operations;
mod outage_start;
mod protocol;
mod radsec;
mod radsec_coa;
mod redis_cluster;
mod rejects;
// The AsyncAPI validators of proisp-events' tests, shared.
#[path = "../../../events/tests/integration/validator.rs"]
mod validator;

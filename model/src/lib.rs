//! Domain types shared by radiusd (reader) and adminapi (writer): plans, subscribers and
//! NAS devices as the auth path sees them.
//!
//! Plain data with no I/O: the store (PostgreSQL and the Redis cache) produces them, the
//! auth path consumes them. Secrets inside them (passwords, NAS secrets) are held in
//! wiping types and never printed by `Debug`.
#![forbid(unsafe_code)]

mod nas;
mod plan;
mod session;
mod subscriber;

pub use nas::{CoaLane, Nas, NasTls, NasVendor};
pub use plan::{Burst, FupAction, Plan, QuotaPeriod, RateLimit};
pub use session::{AcctRecord, AcctStatus, OpenSession, Usage};
pub use subscriber::{MacAddr, Password, Status, Subscriber};

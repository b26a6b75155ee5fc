//! adminapi's own SQL, on the store's pool: what only the admin API reads (subscriber
//! records and search, sessions, history, usage and the dashboard) and the demo data of
//! `proisp-adminapi seed`, and the webhooks' tables. Writes to subscribers, plans and NAS devices go through the
//! store, which keeps Redis coherent; the admin tables are in `admin`, `refresh` and
//! `audit`.

pub mod lookup;
pub mod seed;
pub mod sessions;
pub mod subscribers;
pub mod webhooks;

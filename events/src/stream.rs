//! The stream `PROISP_EVENTS`: created, or updated to the configured limits, by the relay
//! before it publishes.

use async_nats::jetstream::{self, stream};

use crate::config::StreamConfig;

/// Every subject the events go to (and the stream captures).
pub const SUBJECTS: &str = "proisp.v1.>";

/// The stream's JetStream configuration.
pub fn config(cfg: &StreamConfig) -> stream::Config {
    stream::Config {
        name: cfg.name.clone(),
        subjects: vec![SUBJECTS.to_owned()],
        storage: stream::StorageType::File,
        max_age: cfg.max_age,
        max_bytes: cfg.max_bytes,
        num_replicas: cfg.replicas,
        duplicate_window: cfg.duplicate_window,
        ..Default::default()
    }
}

/// Creates the stream, or updates an existing one to `cfg`.
pub async fn ensure(
    js: &jetstream::Context,
    cfg: &StreamConfig,
) -> Result<(), jetstream::context::CreateStreamError> {
    js.create_or_update_stream(config(cfg)).await.map(drop)
}

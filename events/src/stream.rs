//! The stream `PROISP_EVENTS`: created, or updated to the configured limits and subjects,
//! by the relay before it publishes. An older stream on all of `proisp.v1.>` is narrowed
//! in place to [`SUBJECTS`], which leaves `proisp.v1.command.subscriber.>` to the stream
//! of billing's commands (`PROISP_COMMANDS`, which adminapi's consumer creates: JetStream
//! refuses two streams whose subjects overlap).

use async_nats::jetstream::{self, stream};

use crate::config::StreamConfig;

/// Every subject the events go to (and the stream captures): never a command's.
pub const SUBJECTS: [&str; 8] = [
    "proisp.v1.session.>",
    "proisp.v1.subscriber.>",
    "proisp.v1.plan.>",
    "proisp.v1.fup.>",
    "proisp.v1.coa.>",
    "proisp.v1.nas.>",
    "proisp.v1.command.result",
    // `proisp-events bench`'s events.
    "proisp.v1.bench.>",
];

/// The stream's JetStream configuration.
pub fn config(cfg: &StreamConfig) -> stream::Config {
    stream::Config {
        name: cfg.name.clone(),
        subjects: SUBJECTS.iter().map(|s| (*s).to_owned()).collect(),
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

/// What an operator can do about `e`, when the server says why: JetStream's storage
/// budget is smaller than the stream's `max_bytes` (nats-server, left unset, takes its
/// budget from the disk's free space when it starts).
pub fn hint(e: &jetstream::context::CreateStreamError) -> Option<&'static str> {
    use async_nats::jetstream::ErrorCode;
    use async_nats::jetstream::context::CreateStreamErrorKind;
    match e.kind() {
        CreateStreamErrorKind::JetStream(js)
            if js.error_code() == ErrorCode::STORAGE_RESOURCES_EXCEEDED =>
        {
            Some(
                "the NATS server's JetStream storage is smaller than [stream] max_bytes: \
                 lower max_bytes, or raise the server's jetstream max_file_store (or free disk)",
            )
        }
        _ => None,
    }
}

//! proisp-events: the relay of the PostgreSQL event outbox to NATS JetStream (issue 22).
//!
//! Writers append CloudEvents to the outbox in the transactions of their changes
//! ([`proisp_store::outbox`]); [`relay::Relay`] publishes them to the stream
//! `PROISP_EVENTS` ([`stream`]) with `Nats-Msg-Id` = the event id and deletes each row
//! after its PubAck; [`tail`] follows the stream. `events/asyncapi.json` describes every
//! channel and payload.
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`config`] | the configuration (`[database]`, `[nats]`, `[stream]`, `[relay]`, `[log]`, `[webhooks]`, `[delivery]`) |
//! | [`relay`] | the publisher: advisory-lock leadership, waves in order, LISTEN/NOTIFY |
//! | [`stream`] | the stream's JetStream configuration |
//! | [`http`] | `/health` and `/metrics` |
//! | [`metrics`] | metric names and handles |
//! | [`tail`] | an ordered consumer on a subject filter |
//! | [`webhooks`] | signed webhook delivery: claims, retries, dead letters |
#![forbid(unsafe_code)]

pub mod config;
pub mod http;
pub mod metrics;
pub mod relay;
pub mod stream;
pub mod tail;
pub mod webhooks;

/// Connects to NATS at `url` (comma-separated URLs for a cluster), as the user the URLs
/// name (`nats://relay:<password>@127.0.0.1:4222`). The client keeps reconnecting on its
/// own, also when the first attempt fails (the relay starts while NATS is down and its
/// outbox grows meanwhile).
pub async fn connect_nats(url: &str) -> Result<async_nats::Client, async_nats::ConnectError> {
    let urls: Vec<&str> = url.split(',').map(str::trim).collect();
    let mut options = async_nats::ConnectOptions::new();
    if let Some((user, password)) = urls.iter().find_map(|u| url_credentials(u)) {
        options = options.user_and_password(user, password);
    }
    options
        .name("proisp-events")
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connect(urls.as_slice())
        .await
}

/// The user and password in a NATS URL, which async-nats does not send by itself.
pub fn url_credentials(url: &str) -> Option<(String, String)> {
    let addr: async_nats::ServerAddr = url.parse().ok()?;
    Some((addr.username()?.to_owned(), addr.password()?.to_owned()))
}

/// JetStream on `client`, with PubAcks awaited at most `ack_timeout`.
pub fn jetstream(
    client: async_nats::Client,
    ack_timeout: std::time::Duration,
) -> async_nats::jetstream::Context {
    async_nats::jetstream::ContextBuilder::new()
        .ack_timeout(ack_timeout)
        .timeout(ack_timeout)
        .build(client)
}

//! `proisp-events tail SUBJECT`: the stream's events on a subject filter, live, one JSON
//! object a line — an ordered consumer (ephemeral, unacknowledged, in stream order).

use async_nats::jetstream::{self, consumer};

/// Where to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum From {
    /// Only events published from now on.
    New,
    /// Every event the stream still holds, then the new ones.
    All,
}

/// An endless stream of the events on `filter` (`proisp.v1.subscriber.>`) in
/// `stream_name`, in stream order.
pub async fn subscribe(
    js: &jetstream::Context,
    stream_name: &str,
    filter: &str,
    from: From,
) -> Result<consumer::pull::Ordered, async_nats::Error> {
    let stream = js.get_stream(stream_name).await?;
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: filter.to_owned(),
            deliver_policy: match from {
                From::New => consumer::DeliverPolicy::New,
                From::All => consumer::DeliverPolicy::All,
            },
            ..Default::default()
        })
        .await?;
    Ok(consumer.messages().await?)
}

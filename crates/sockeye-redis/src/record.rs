//! [`Metrics`] into the `metrics` recorder (feature `metrics`).

use metrics::{counter, describe_counter};

use crate::Metrics;

pub(crate) fn record(m: &Metrics) {
    let figures = [
        (
            "sockeye_redis_reconnects_total",
            m.reconnects,
            "Reconnections to Redis (publishing or subscribing connection).",
        ),
        (
            "sockeye_redis_malformed_messages_total",
            m.malformed,
            "Messages from Redis dropped because they were malformed or too large.",
        ),
        (
            "sockeye_redis_publish_failures_total",
            m.publish_failures,
            "Publishes to Redis that failed (unreachable, or no answer in time).",
        ),
        (
            "sockeye_redis_lagged_messages_total",
            m.lagged,
            "Messages from Redis lost because they came faster than they were handled.",
        ),
    ];
    for (name, value, help) in figures {
        describe_counter!(name, help);
        counter!(name).absolute(value);
    }
}

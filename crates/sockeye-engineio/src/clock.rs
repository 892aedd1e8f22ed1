//! The drivers' clock: tokio's (so tests with paused time control it too), read as the
//! session machine's [`Time`].

use std::sync::OnceLock;

use crate::session::Time;

fn origin() -> tokio::time::Instant {
    static ORIGIN: OnceLock<tokio::time::Instant> = OnceLock::new();
    *ORIGIN.get_or_init(tokio::time::Instant::now)
}

/// Now, for the session machine.
pub(crate) fn now() -> Time {
    let since = tokio::time::Instant::now().saturating_duration_since(origin());
    Time::from_micros(u64::try_from(since.as_micros()).unwrap_or(u64::MAX - 1))
}

/// The instant of a machine time, for tokio's timer.
pub(crate) fn instant(at: Time) -> tokio::time::Instant {
    let since = std::time::Duration::from_micros(at.as_micros());
    origin().checked_add(since).unwrap_or_else(|| {
        // A deadline past what the platform's clock can hold: a year is as good as never.
        tokio::time::Instant::now() + std::time::Duration::from_secs(365 * 86_400)
    })
}

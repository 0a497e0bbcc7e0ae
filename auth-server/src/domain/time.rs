//! Timestamps as stored: UTC `NaiveDateTime` truncated to microseconds (what PostgreSQL keeps), so a
//! value read back compares equal to the value written.

use chrono::{DurationRound, NaiveDateTime, TimeDelta, Utc};

/// The current UTC time at microsecond precision.
pub fn now() -> NaiveDateTime {
    let now = Utc::now().naive_utc();
    now.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(now)
}

/// `from` plus a lifetime given in seconds.
pub fn after_secs(from: NaiveDateTime, secs: u64) -> NaiveDateTime {
    from + TimeDelta::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 1_000_000))
}

/// Seconds since the Unix epoch, as used by `exp` and `iat`.
pub fn unix(time: NaiveDateTime) -> i64 {
    time.and_utc().timestamp()
}

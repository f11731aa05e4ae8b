//! Instants, as whole seconds since the Unix epoch in UTC.

use std::fmt;

use time::{Date, OffsetDateTime, Time};

/// An instant in UTC, to the second. The domain never reads the clock: callers pass it in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Midnight UTC at the start of `date`.
    pub fn start_of(date: Date) -> Self {
        Timestamp(date.with_time(Time::MIDNIGHT).assume_utc().unix_timestamp())
    }

    pub fn seconds(self) -> i64 {
        self.0
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339, such as `2010-04-01T00:00:00Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match OffsetDateTime::from_unix_timestamp(self.0) {
            Ok(t) => {
                let (date, time) = (t.date(), t.time());
                write!(
                    f,
                    "{date}T{:02}:{:02}:{:02}Z",
                    time.hour(),
                    time.minute(),
                    time.second()
                )
            }
            Err(_) => write!(f, "@{}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_rfc3339() {
        let t = Timestamp::start_of(time::macros::date!(2010 - 04 - 01));
        assert_eq!(t.to_string(), "2010-04-01T00:00:00Z");
        assert_eq!(Timestamp(t.0 + 3661).to_string(), "2010-04-01T01:01:01Z");
    }
}

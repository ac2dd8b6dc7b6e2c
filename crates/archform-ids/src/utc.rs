//! UTC calendar dates from Unix time, without a date-time dependency: the
//! one copy of H. Hinnant's `civil_from_days` that lock records (RFC 3339)
//! and Lambda events (access-log and ISO 8601 times) are formatted with.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A UTC instant split into calendar fields (proleptic Gregorian).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateTime {
    pub year: i64,
    /// 1-12.
    pub month: u32,
    /// 1-31.
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub millis: u32,
}

impl DateTime {
    /// The instant `epoch_ms` milliseconds after 1970-01-01T00:00:00Z
    /// (before it, when negative).
    pub fn from_epoch_ms(epoch_ms: i64) -> Self {
        let secs = epoch_ms.div_euclid(1000);
        let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let (year, month, day) = civil_from_days(days);
        DateTime {
            year,
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: (rem % 3600 / 60) as u32,
            second: (rem % 60) as u32,
            millis: epoch_ms.rem_euclid(1000) as u32,
        }
    }

    /// `2026-11-22T07:32:05Z` (RFC 3339, whole seconds).
    pub fn rfc3339(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31) in the proleptic
/// Gregorian calendar (H. Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_453), (2025, 12, 31));
    }

    #[test]
    fn splits_and_formats_instants() {
        assert_eq!(DateTime::from_epoch_ms(0).rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(
            DateTime::from_epoch_ms(951_782_400_000).rfc3339(),
            "2000-02-29T00:00:00Z"
        );
        let t = DateTime::from_epoch_ms(1_767_225_599_123);
        assert_eq!(t.rfc3339(), "2025-12-31T23:59:59Z");
        assert_eq!(t.millis, 123);
        let before = DateTime::from_epoch_ms(-1);
        assert_eq!((before.year, before.second, before.millis), (1969, 59, 999));
    }
}

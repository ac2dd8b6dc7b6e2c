//! Request times in the forms AWS puts in events: epoch milliseconds, the
//! access-log form `22/Nov/2026:07:32:05 +0000` and ISO 8601 with
//! milliseconds (SNS `Timestamp`, the management API's times), always UTC.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `dd/Mon/yyyy:HH:MM:SS +0000` for epoch milliseconds.
pub fn access_log_time(epoch_ms: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = epoch_ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{day:02}/{}/{year:04}:{:02}:{:02}:{:02} +0000",
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `2026-11-22T07:32:05.123Z` for epoch milliseconds.
pub fn iso8601(epoch_ms: i64) -> String {
    let secs = epoch_ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        epoch_ms.rem_euclid(1000)
    )
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31) in the proleptic
/// Gregorian calendar (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod iso_tests {
    use super::iso8601;

    #[test]
    fn iso8601_utc_with_milliseconds() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_795_332_725_123), "2026-11-22T07:32:05.123Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}

#[cfg(test)]
mod tests {
    use super::access_log_time;

    #[test]
    fn formats_like_api_gateway() {
        // Examples from the AWS documentation's events.
        assert_eq!(
            access_log_time(1_583_348_638_390),
            "04/Mar/2020:19:03:58 +0000"
        );
        assert_eq!(
            access_log_time(1_631_055_022_677),
            "07/Sep/2021:22:50:22 +0000"
        );
        assert_eq!(access_log_time(0), "01/Jan/1970:00:00:00 +0000");
        assert_eq!(
            access_log_time(951_782_400_000),
            "29/Feb/2000:00:00:00 +0000"
        );
    }
}

//! Request times in the forms AWS puts in events: epoch milliseconds, the
//! access-log form `22/Nov/2026:07:32:05 +0000` and ISO 8601 with
//! milliseconds (SNS `Timestamp`, the management API's times), always UTC.

use archform_ids::utc::DateTime;

pub use archform_ids::utc::now_ms;

/// `dd/Mon/yyyy:HH:MM:SS +0000` for epoch milliseconds.
pub fn access_log_time(epoch_ms: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t = DateTime::from_epoch_ms(epoch_ms);
    format!(
        "{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000",
        t.day,
        MONTHS[(t.month - 1) as usize],
        t.year,
        t.hour,
        t.minute,
        t.second
    )
}

/// `2026-11-22T07:32:05.123Z` for epoch milliseconds.
pub fn iso8601(epoch_ms: i64) -> String {
    let t = DateTime::from_epoch_ms(epoch_ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second, t.millis
    )
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

//! Whether a notification goes out on a channel now, later, or not at all,
//! given the user's preferences.
//!
//! In order, the first that applies decides:
//!
//! 1. no preferences stored: suppressed, `no_contact`;
//! 2. `unsubscribed`: suppressed, `unsubscribed`, whatever the priority
//!    (a global unsubscribe is never overridden);
//! 3. an opt-out of the channel, the category, or the channel for the
//!    category: suppressed, `opted_out`, unless the priority is critical;
//! 4. no contact point for the channel: suppressed, `no_contact`;
//! 5. inside quiet hours, unless critical: held until they end (`Delay`),
//!    or suppressed, `quiet_hours`, if the user asked for `drop`;
//! 6. otherwise: send now.
//!
//! Quiet hours are wall-clock times in the user's IANA time zone; their end
//! is found on the calendar (jiff), so it is right across DST changes: a
//! 22:00-07:00 window on the night clocks spring forward lasts 8 hours of
//! wall time but 7 real ones.

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

use crate::model::{Channel, Priority, SuppressionReason};
use crate::preferences::{Preferences, QuietAction, QuietHours};

/// What to do with one channel of a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Send,
    /// Hold until this instant (Unix ms), the end of quiet hours.
    Delay {
        until_ms: i64,
    },
    Suppress(SuppressionReason),
}

/// The decision for `channel` of a notification in `category` at
/// `priority`, at the instant `now_ms`.
pub fn decide(
    preferences: Option<&Preferences>,
    channel: Channel,
    category: Option<&str>,
    priority: Priority,
    now_ms: i64,
) -> Decision {
    let Some(prefs) = preferences else {
        return Decision::Suppress(SuppressionReason::NoContact);
    };
    if prefs.unsubscribed {
        return Decision::Suppress(SuppressionReason::Unsubscribed);
    }
    let critical = priority == Priority::Critical;
    if !critical && prefs.opt_out.excludes(channel, category) {
        return Decision::Suppress(SuppressionReason::OptedOut);
    }
    if !prefs.has_contact(channel) {
        return Decision::Suppress(SuppressionReason::NoContact);
    }
    if !critical && let Some(quiet) = &prefs.quiet_hours {
        let tz = user_time_zone(prefs);
        if let Some(until_ms) = quiet_until(quiet, &tz, now_ms) {
            return match quiet.action {
                QuietAction::Delay => Decision::Delay { until_ms },
                QuietAction::Drop => Decision::Suppress(SuppressionReason::QuietHours),
            };
        }
    }
    Decision::Send
}

/// The user's time zone. [`Preferences::from_spec`] refuses names the
/// database lacks, so UTC is only reached for a record written by
/// something else (or a name a later database dropped).
fn user_time_zone(prefs: &Preferences) -> TimeZone {
    prefs
        .timezone
        .as_deref()
        .and_then(|name| TimeZone::get(name).ok())
        .unwrap_or(TimeZone::UTC)
}

fn clock(t: crate::preferences::ClockTime) -> Time {
    Time::constant(t.hour as i8, t.minute as i8, 0, 0)
}

/// When `now_ms` falls inside the quiet window in `tz`, the instant (Unix
/// ms) the window ends; `None` outside it.
pub fn quiet_until(quiet: &QuietHours, tz: &TimeZone, now_ms: i64) -> Option<i64> {
    let now = Timestamp::from_millisecond(now_ms)
        .ok()?
        .to_zoned(tz.clone());
    let minute_of_day = |z: &Zoned| {
        u16::try_from(z.hour()).unwrap_or(0) * 60 + u16::try_from(z.minute()).unwrap_or(0)
    };
    let local = minute_of_day(&now);
    let (start, end) = (quiet.start.minutes(), quiet.end.minutes());
    let today = now.date();
    // The calendar day on which the window that contains `now` ends.
    let end_day: Date = if start < end {
        if !(start..end).contains(&local) {
            return None;
        }
        today
    } else if local >= start {
        today.tomorrow().ok()?
    } else if local < end {
        today
    } else {
        return None;
    };
    // A wall time in a DST gap does not exist; jiff's compatible choice is
    // the instant after the gap, when quiet hours are over.
    let end_at = end_day
        .to_datetime(clock(quiet.end))
        .to_zoned(tz.clone())
        .ok()?;
    Some(end_at.timestamp().as_millisecond())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preferences::{ClockTime, OptOuts, PushContact, PushPlatform, WebhookContact};
    use std::collections::BTreeSet;

    fn at(text: &str) -> i64 {
        text.parse::<Timestamp>().unwrap().as_millisecond()
    }

    fn iso(ms: i64) -> String {
        Timestamp::from_millisecond(ms).unwrap().to_string()
    }

    fn hm(text: &str) -> ClockTime {
        ClockTime::try_from(text.to_owned()).unwrap()
    }

    fn window(start: &str, end: &str) -> QuietHours {
        QuietHours {
            start: hm(start),
            end: hm(end),
            action: QuietAction::Delay,
        }
    }

    fn reachable() -> Preferences {
        Preferences {
            user_id: "u1".into(),
            email: Some("ana@example.com".into()),
            phone: Some("+14155550123".into()),
            push: Some(PushContact {
                platform: PushPlatform::Apns,
                token: "ab".repeat(32),
            }),
            webhook: Some(WebhookContact {
                url: "https://hooks.example.com/".into(),
                secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
            }),
            locale: None,
            timezone: Some("America/New_York".into()),
            quiet_hours: None,
            opt_out: OptOuts::default(),
            unsubscribed: false,
            updated_at: 0,
        }
    }

    const NOON_NY: &str = "2024-06-12T16:00:00Z";

    #[test]
    fn a_reachable_user_without_restrictions_gets_everything() {
        let prefs = reachable();
        for channel in Channel::ALL {
            for priority in [Priority::Critical, Priority::Transactional, Priority::Bulk] {
                assert_eq!(
                    decide(Some(&prefs), channel, Some("orders"), priority, at(NOON_NY)),
                    Decision::Send
                );
            }
        }
    }

    #[test]
    fn unknown_users_and_missing_contact_points_are_no_contact() {
        assert_eq!(
            decide(None, Channel::Email, None, Priority::Critical, 0),
            Decision::Suppress(SuppressionReason::NoContact)
        );
        let mut prefs = reachable();
        prefs.phone = None;
        assert_eq!(
            decide(
                Some(&prefs),
                Channel::Sms,
                None,
                Priority::Critical,
                at(NOON_NY)
            ),
            Decision::Suppress(SuppressionReason::NoContact)
        );
        assert_eq!(
            decide(
                Some(&prefs),
                Channel::Email,
                None,
                Priority::Bulk,
                at(NOON_NY)
            ),
            Decision::Send
        );
    }

    #[test]
    fn a_global_unsubscribe_holds_back_even_critical_messages() {
        let mut prefs = reachable();
        prefs.unsubscribed = true;
        for priority in [Priority::Critical, Priority::Transactional, Priority::Bulk] {
            assert_eq!(
                decide(
                    Some(&prefs),
                    Channel::Email,
                    Some("account"),
                    priority,
                    at(NOON_NY)
                ),
                Decision::Suppress(SuppressionReason::Unsubscribed)
            );
        }
    }

    #[test]
    fn opt_outs_hold_back_all_but_critical() {
        let mut prefs = reachable();
        prefs.opt_out = OptOuts {
            categories: BTreeSet::from(["marketing".to_owned()]),
            channels: BTreeSet::from([Channel::Sms]),
            category_channels: [("orders".to_owned(), BTreeSet::from([Channel::Push]))].into(),
        };
        let d = |channel, category, priority| {
            decide(Some(&prefs), channel, category, priority, at(NOON_NY))
        };
        let opted_out = Decision::Suppress(SuppressionReason::OptedOut);
        assert_eq!(
            d(Channel::Email, Some("marketing"), Priority::Bulk),
            opted_out
        );
        assert_eq!(
            d(Channel::Email, Some("marketing"), Priority::Transactional),
            opted_out
        );
        assert_eq!(
            d(Channel::Sms, Some("account"), Priority::Transactional),
            opted_out
        );
        assert_eq!(d(Channel::Sms, None, Priority::Bulk), opted_out);
        assert_eq!(
            d(Channel::Push, Some("orders"), Priority::Transactional),
            opted_out
        );
        assert_eq!(
            d(Channel::Email, Some("orders"), Priority::Transactional),
            Decision::Send
        );
        // Critical messages pass every opt-out.
        assert_eq!(
            d(Channel::Sms, Some("account"), Priority::Critical),
            Decision::Send
        );
        assert_eq!(
            d(Channel::Email, Some("marketing"), Priority::Critical),
            Decision::Send
        );
    }

    #[test]
    fn quiet_hours_delay_until_their_end_and_critical_ignores_them() {
        let mut prefs = reachable();
        prefs.quiet_hours = Some(window("22:00", "07:00"));
        // 23:30 in New York (EDT, UTC-4) on June 11th.
        let late = at("2024-06-12T03:30:00Z");
        let Decision::Delay { until_ms } =
            decide(Some(&prefs), Channel::Email, None, Priority::Bulk, late)
        else {
            panic!("not delayed");
        };
        assert_eq!(iso(until_ms), "2024-06-12T11:00:00Z"); // 07:00 EDT
        assert_eq!(
            decide(
                Some(&prefs),
                Channel::Sms,
                None,
                Priority::Transactional,
                late
            ),
            Decision::Delay { until_ms }
        );
        assert_eq!(
            decide(Some(&prefs), Channel::Sms, None, Priority::Critical, late),
            Decision::Send
        );
        // Dropping instead of delaying, if the user asked.
        prefs.quiet_hours = Some(QuietHours {
            action: QuietAction::Drop,
            ..window("22:00", "07:00")
        });
        assert_eq!(
            decide(Some(&prefs), Channel::Email, None, Priority::Bulk, late),
            Decision::Suppress(SuppressionReason::QuietHours)
        );
    }

    #[test]
    fn windows_spanning_midnight_and_within_a_day() {
        let ny = TimeZone::get("America/New_York").unwrap();
        let night = window("22:00", "07:00");
        // Before the window, at its start, after midnight, at its end.
        assert_eq!(quiet_until(&night, &ny, at("2024-06-12T01:59:00Z")), None); // 21:59
        assert_eq!(
            quiet_until(&night, &ny, at("2024-06-12T02:00:00Z")).map(iso), // 22:00
            Some("2024-06-12T11:00:00Z".into())
        );
        assert_eq!(
            quiet_until(&night, &ny, at("2024-06-12T08:00:00Z")).map(iso), // 04:00
            Some("2024-06-12T11:00:00Z".into())
        );
        assert_eq!(quiet_until(&night, &ny, at("2024-06-12T11:00:00Z")), None); // 07:00
        assert_eq!(quiet_until(&night, &ny, at(NOON_NY)), None);

        let lunch = window("12:00", "13:30");
        assert_eq!(
            quiet_until(&lunch, &ny, at(NOON_NY)).map(iso),
            Some("2024-06-12T17:30:00Z".into())
        );
        assert_eq!(quiet_until(&lunch, &ny, at("2024-06-12T17:30:00Z")), None);
        assert_eq!(quiet_until(&lunch, &ny, at("2024-06-12T15:59:59Z")), None);
    }

    #[test]
    fn the_same_instant_is_quiet_in_one_zone_and_not_in_another() {
        let night = window("22:00", "07:00");
        let instant = at("2024-06-12T03:30:00Z");
        let tokyo = TimeZone::get("Asia/Tokyo").unwrap(); // 12:30 there
        let lisbon = TimeZone::get("Europe/Lisbon").unwrap(); // 04:30 WEST
        assert_eq!(quiet_until(&night, &tokyo, instant), None);
        assert_eq!(
            quiet_until(&night, &lisbon, instant).map(iso),
            Some("2024-06-12T06:00:00Z".into()) // 07:00 WEST
        );
    }

    #[test]
    fn spring_forward_night_is_an_hour_shorter() {
        // New York moves from EST (UTC-5) to EDT (UTC-4) at 02:00 on
        // 2024-03-10.
        let ny = TimeZone::get("America/New_York").unwrap();
        let night = window("22:00", "07:00");
        let before = at("2024-03-10T04:00:00Z"); // 23:00 EST on the 9th
        let until = quiet_until(&night, &ny, before).unwrap();
        assert_eq!(iso(until), "2024-03-10T11:00:00Z"); // 07:00 EDT
        assert_eq!((until - before) / 3_600_000, 7);
        // A window ending inside the gap ends when the gap does.
        let gap = window("01:00", "02:30");
        let inside = at("2024-03-10T06:30:00Z"); // 01:30 EST
        assert_eq!(
            quiet_until(&gap, &ny, inside).map(iso),
            Some("2024-03-10T07:30:00Z".into()) // 03:30 EDT
        );
    }

    #[test]
    fn fall_back_night_is_an_hour_longer() {
        // EDT back to EST at 02:00 on 2024-11-03.
        let ny = TimeZone::get("America/New_York").unwrap();
        let night = window("22:00", "07:00");
        let before = at("2024-11-03T03:00:00Z"); // 23:00 EDT on the 2nd
        let until = quiet_until(&night, &ny, before).unwrap();
        assert_eq!(iso(until), "2024-11-03T12:00:00Z"); // 07:00 EST
        assert_eq!((until - before) / 3_600_000, 9);
        // 01:30 happens twice; both are inside the window.
        for repeated in ["2024-11-03T05:30:00Z", "2024-11-03T06:30:00Z"] {
            assert_eq!(
                quiet_until(&night, &ny, at(repeated)).map(iso),
                Some("2024-11-03T12:00:00Z".into())
            );
        }
    }

    #[test]
    fn a_delayed_message_is_sent_once_the_window_ends() {
        let mut prefs = reachable();
        prefs.quiet_hours = Some(window("22:00", "07:00"));
        let Decision::Delay { until_ms } = decide(
            Some(&prefs),
            Channel::Push,
            None,
            Priority::Bulk,
            at("2024-03-10T04:00:00Z"),
        ) else {
            panic!("not delayed");
        };
        assert_eq!(
            decide(Some(&prefs), Channel::Push, None, Priority::Bulk, until_ms),
            Decision::Send
        );
        assert!(matches!(
            decide(
                Some(&prefs),
                Channel::Push,
                None,
                Priority::Bulk,
                until_ms - 1
            ),
            Decision::Delay { .. }
        ));
    }
}

//! A user's preferences: contact points, locale and time zone, quiet
//! hours, opt-outs, and the global unsubscribe.
//!
//! `PUT /v1/users/{id}/preferences` takes a [`PreferencesSpec`] and
//! replaces the whole record; [`Preferences::from_spec`] checks every
//! field first, so a stored record is always usable by [`crate::rules`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::Channel;
use crate::validate::{self, InvalidInput, UrlPolicy};
use crate::webhook_signature::{SignatureError, WebhookSecret};

/// Longest push token accepted (FCM registration tokens run to a few
/// hundred characters; APNs device tokens are 64 hex digits).
pub const MAX_PUSH_TOKEN_CHARS: usize = 4096;

/// The push service a device token belongs to; SNS needs a platform
/// application of that kind to create an endpoint for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushPlatform {
    Apns,
    ApnsSandbox,
    Fcm,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushContact {
    pub platform: PushPlatform,
    pub token: String,
}

/// The webhook of a PUT: the secret may be left out, and is then kept
/// from the stored record or generated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSpec {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// A stored webhook: the URL and its signing secret (`whsec_...`), which
/// the API shows to the user's owner so the receiver can verify requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookContact {
    pub url: String,
    pub secret: String,
}

/// A wall-clock time of day, written `HH:MM` (24-hour).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClockTime {
    pub hour: u8,
    pub minute: u8,
}

impl ClockTime {
    pub fn minutes(self) -> u16 {
        u16::from(self.hour) * 60 + u16::from(self.minute)
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour, self.minute)
    }
}

impl From<ClockTime> for String {
    fn from(t: ClockTime) -> String {
        t.to_string()
    }
}

impl TryFrom<String> for ClockTime {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        let bad = || format!("{text:?} is not a time of day written HH:MM (00:00 to 23:59)");
        let (h, m) = text.split_once(':').ok_or_else(bad)?;
        if h.len() != 2 || m.len() != 2 {
            return Err(bad());
        }
        let hour: u8 = h.parse().map_err(|_| bad())?;
        let minute: u8 = m.parse().map_err(|_| bad())?;
        if hour > 23 || minute > 59 {
            return Err(bad());
        }
        Ok(ClockTime { hour, minute })
    }
}

/// What happens to a message that falls in quiet hours (critical ones
/// always go out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuietAction {
    /// Held until quiet hours end, then sent.
    #[default]
    Delay,
    /// Not sent (status `suppressed`, reason `quiet_hours`).
    Drop,
}

/// A daily window, in the user's time zone, from `start` (inclusive) to
/// `end` (exclusive). A start later than the end spans midnight
/// (`22:00`-`07:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    pub start: ClockTime,
    pub end: ClockTime,
    #[serde(default)]
    pub action: QuietAction,
}

/// What the user opted out of. Opt-outs hold back every priority but
/// critical; only `unsubscribed` holds back critical messages too.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptOuts {
    /// Whole categories, on every channel.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub categories: BTreeSet<String>,
    /// Whole channels, for every category.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub channels: BTreeSet<Channel>,
    /// Channels of one category (`{"marketing": ["sms"]}`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub category_channels: BTreeMap<String, BTreeSet<Channel>>,
}

impl OptOuts {
    pub fn is_empty(&self) -> bool {
        self.categories.is_empty() && self.channels.is_empty() && self.category_channels.is_empty()
    }

    /// Whether the user opted out of `channel` for `category` (or of
    /// either as a whole). Notifications without a category only meet
    /// channel opt-outs.
    pub fn excludes(&self, channel: Channel, category: Option<&str>) -> bool {
        if self.channels.contains(&channel) {
            return true;
        }
        let Some(category) = category else {
            return false;
        };
        self.categories.contains(category)
            || self
                .category_channels
                .get(category)
                .is_some_and(|channels| channels.contains(&channel))
    }
}

/// The body of `PUT /v1/users/{id}/preferences`. Every field may be left
/// out; the PUT replaces the whole record.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreferencesSpec {
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub push: Option<PushContact>,
    #[serde(default)]
    pub webhook: Option<WebhookSpec>,
    #[serde(default)]
    pub locale: Option<String>,
    /// IANA name (`Europe/Lisbon`); required with `quiet_hours`.
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub quiet_hours: Option<QuietHours>,
    #[serde(default)]
    pub opt_out: OptOuts,
    #[serde(default)]
    pub unsubscribed: bool,
}

/// A user's checked preferences, as stored and as `GET` shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preferences {
    pub user_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<PushContact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookContact>,
    /// Canonical case (`pt-BR`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietHours>,
    #[serde(default, skip_serializing_if = "OptOuts::is_empty")]
    pub opt_out: OptOuts,
    #[serde(default)]
    pub unsubscribed: bool,
    /// Unix epoch milliseconds.
    pub updated_at: i64,
}

/// Why preferences were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPreferences {
    #[error(transparent)]
    Input(#[from] InvalidInput),
    #[error("webhook.secret: {0}")]
    Secret(#[from] SignatureError),
    #[error(
        "push.token is empty or longer than {MAX_PUSH_TOKEN_CHARS} characters, or has spaces or control characters"
    )]
    PushToken,
    #[error("{0:?} is not an IANA time zone name like Europe/Lisbon or America/New_York")]
    TimeZone(String),
    #[error("quiet_hours need a timezone (the IANA name of the user's time zone)")]
    QuietHoursWithoutTimeZone,
    #[error("quiet_hours start and end are both {0}; give a window (e.g. 22:00 to 07:00)")]
    EmptyQuietHours(String),
    #[error("unknown category {category:?} in opt_out; the categories are {known}")]
    UnknownCategory { category: String, known: String },
}

impl Preferences {
    /// Checks `spec` for `user_id`. Categories named in opt-outs must be
    /// among `categories`; `previous` (the stored record) supplies the
    /// webhook secret when the spec leaves it out and the URL is the same
    /// (a new URL gets a new secret: a secret is not handed to another
    /// receiver).
    pub fn from_spec(
        user_id: &str,
        spec: PreferencesSpec,
        previous: Option<&Preferences>,
        categories: &BTreeSet<String>,
        url_policy: UrlPolicy,
        now_ms: i64,
    ) -> Result<Self, InvalidPreferences> {
        validate::user_id(user_id)?;
        if let Some(email) = &spec.email {
            validate::email(email)?;
        }
        if let Some(phone) = &spec.phone {
            validate::e164(phone)?;
        }
        if let Some(push) = &spec.push {
            let token = &push.token;
            if token.is_empty()
                || token.chars().count() > MAX_PUSH_TOKEN_CHARS
                || !token.chars().all(|c| c.is_ascii_graphic())
            {
                return Err(InvalidPreferences::PushToken);
            }
        }
        let webhook = match spec.webhook {
            None => None,
            Some(webhook) => {
                validate::webhook_url(&webhook.url, url_policy)?;
                let secret = match webhook.secret {
                    Some(secret) => WebhookSecret::parse(&secret)?.expose(),
                    None => previous
                        .and_then(|p| p.webhook.as_ref())
                        .filter(|old| old.url == webhook.url)
                        .map(|old| old.secret.clone())
                        .unwrap_or_else(|| WebhookSecret::generate().expose()),
                };
                Some(WebhookContact {
                    url: webhook.url,
                    secret,
                })
            }
        };
        let locale = match spec.locale {
            Some(locale) => {
                validate::locale(&locale)?;
                Some(crate::templates::canonical_locale(&locale))
            }
            None => None,
        };
        let timezone = match spec.timezone {
            Some(name) => {
                let tz = jiff::tz::TimeZone::get(&name)
                    .map_err(|_| InvalidPreferences::TimeZone(name.clone()))?;
                // The database's own spelling (lookups ignore case).
                Some(tz.iana_name().map_or(name, str::to_owned))
            }
            None => None,
        };
        if let Some(quiet) = &spec.quiet_hours {
            if timezone.is_none() {
                return Err(InvalidPreferences::QuietHoursWithoutTimeZone);
            }
            if quiet.start == quiet.end {
                return Err(InvalidPreferences::EmptyQuietHours(quiet.start.to_string()));
            }
        }
        let named = spec
            .opt_out
            .categories
            .iter()
            .chain(spec.opt_out.category_channels.keys());
        for category in named {
            if !categories.contains(category) {
                return Err(InvalidPreferences::UnknownCategory {
                    category: category.clone(),
                    known: categories.iter().cloned().collect::<Vec<_>>().join(", "),
                });
            }
        }
        Ok(Preferences {
            user_id: user_id.to_owned(),
            email: spec.email,
            phone: spec.phone,
            push: spec.push,
            webhook,
            locale,
            timezone,
            quiet_hours: spec.quiet_hours,
            opt_out: spec.opt_out,
            unsubscribed: spec.unsubscribed,
            updated_at: now_ms,
        })
    }

    /// Whether the user can be reached on `channel` at all.
    pub fn has_contact(&self, channel: Channel) -> bool {
        match channel {
            Channel::Email => self.email.is_some(),
            Channel::Sms => self.phone.is_some(),
            Channel::Push => self.push.is_some(),
            Channel::Webhook => self.webhook.is_some(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn categories() -> BTreeSet<String> {
        ["account", "marketing", "orders"]
            .into_iter()
            .map(String::from)
            .collect()
    }

    fn check(value: Value) -> Result<Preferences, InvalidPreferences> {
        let spec: PreferencesSpec = serde_json::from_value(value).unwrap();
        Preferences::from_spec("u1", spec, None, &categories(), UrlPolicy::HttpsOnly, 7)
    }

    #[test]
    fn a_full_record_is_checked_and_normalised() {
        let prefs = check(json!({
            "email": "ana@example.com",
            "phone": "+351912345678",
            "push": {"platform": "fcm", "token": "dQw4w9WgXcQ:APA91bH"},
            "webhook": {"url": "https://hooks.example.com/n"},
            "locale": "pt-br",
            "timezone": "europe/lisbon",
            "quiet_hours": {"start": "22:00", "end": "07:30"},
            "opt_out": {"categories": ["marketing"], "channels": ["sms"], "category_channels": {"orders": ["push"]}},
        }))
        .unwrap();
        assert_eq!(prefs.locale.as_deref(), Some("pt-BR"));
        assert_eq!(prefs.timezone.as_deref(), Some("Europe/Lisbon"));
        assert_eq!(prefs.updated_at, 7);
        let quiet = prefs.quiet_hours.unwrap();
        assert_eq!((quiet.start.minutes(), quiet.end.minutes()), (1320, 450));
        assert_eq!(quiet.action, QuietAction::Delay);
        let secret = &prefs.webhook.as_ref().unwrap().secret;
        assert!(WebhookSecret::parse(secret).is_ok());
        for channel in Channel::ALL {
            assert!(prefs.has_contact(channel));
        }
        // Serialized back as the API shows it.
        let shown = serde_json::to_value(&prefs).unwrap();
        assert_eq!(
            shown["quiet_hours"],
            json!({"start": "22:00", "end": "07:30", "action": "delay"})
        );
        assert_eq!(
            shown["opt_out"]["category_channels"],
            json!({"orders": ["push"]})
        );
        assert_eq!(serde_json::from_value::<Preferences>(shown).unwrap(), prefs);
    }

    #[test]
    fn opt_outs_cover_categories_channels_and_pairs() {
        let o = check(json!({"opt_out": {"categories": ["marketing"], "channels": ["sms"], "category_channels": {"orders": ["push"]}}}))
            .unwrap()
            .opt_out;
        assert!(o.excludes(Channel::Email, Some("marketing")));
        assert!(o.excludes(Channel::Sms, Some("account")));
        assert!(o.excludes(Channel::Sms, None));
        assert!(o.excludes(Channel::Push, Some("orders")));
        assert!(!o.excludes(Channel::Email, Some("orders")));
        assert!(!o.excludes(Channel::Push, Some("account")));
        assert!(!o.excludes(Channel::Email, None));
    }

    #[test]
    fn the_webhook_secret_is_kept_for_the_same_url_and_renewed_for_another() {
        let categories = categories();
        let spec = |url: &str| PreferencesSpec {
            webhook: Some(WebhookSpec {
                url: url.into(),
                secret: None,
            }),
            ..Default::default()
        };
        let first = Preferences::from_spec(
            "u1",
            spec("https://a.example.com/"),
            None,
            &categories,
            UrlPolicy::HttpsOnly,
            1,
        )
        .unwrap();
        let same = Preferences::from_spec(
            "u1",
            spec("https://a.example.com/"),
            Some(&first),
            &categories,
            UrlPolicy::HttpsOnly,
            2,
        )
        .unwrap();
        assert_eq!(same.webhook, first.webhook);
        let moved = Preferences::from_spec(
            "u1",
            spec("https://b.example.com/"),
            Some(&first),
            &categories,
            UrlPolicy::HttpsOnly,
            3,
        )
        .unwrap();
        assert_ne!(
            moved.webhook.unwrap().secret,
            first.webhook.as_ref().unwrap().secret
        );
        // A given secret is used as given (in its canonical form).
        let given = check(json!({"webhook": {"url": "https://a.example.com/", "secret": "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}))
            .unwrap();
        assert_eq!(
            given.webhook.unwrap().secret,
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        );
    }

    #[test]
    fn bad_preferences_are_refused_with_the_reason() {
        let cases = [
            (
                json!({"email": "not-an-email"}),
                "not a valid email address",
            ),
            (json!({"phone": "912 345 678"}), "not an E.164 phone number"),
            (
                json!({"push": {"platform": "fcm", "token": ""}}),
                "push.token",
            ),
            (
                json!({"push": {"platform": "fcm", "token": "a b"}}),
                "push.token",
            ),
            (
                json!({"webhook": {"url": "http://hooks.example.com/"}}),
                "plain http",
            ),
            (json!({"webhook": {"url": "https://10.0.0.1/"}}), "private"),
            (
                json!({"webhook": {"url": "https://a.example.com/", "secret": "whsec_short"}}),
                "webhook.secret",
            ),
            (json!({"locale": "portuguese"}), "not a locale tag"),
            (
                json!({"timezone": "Mars/Olympus_Mons"}),
                "not an IANA time zone",
            ),
            (
                json!({"quiet_hours": {"start": "22:00", "end": "07:00"}}),
                "need a timezone",
            ),
            (
                json!({"timezone": "UTC", "quiet_hours": {"start": "22:00", "end": "22:00"}}),
                "both 22:00",
            ),
            (
                json!({"opt_out": {"categories": ["promos"]}}),
                "unknown category \"promos\" in opt_out; the categories are account, marketing, orders",
            ),
            (
                json!({"opt_out": {"category_channels": {"promos": ["sms"]}}}),
                "unknown category",
            ),
        ];
        for (value, reason) in cases {
            let message = check(value.clone()).unwrap_err().to_string();
            assert!(message.contains(reason), "{value}: {message}");
        }
    }

    #[test]
    fn malformed_fields_are_refused_by_the_parser() {
        for value in [
            json!({"quiet_hours": {"start": "24:00", "end": "07:00"}}),
            json!({"quiet_hours": {"start": "7:00", "end": "08:00"}}),
            json!({"quiet_hours": {"start": "22:00", "end": "07:00", "action": "skip"}}),
            json!({"opt_out": {"channels": ["fax"]}}),
            json!({"push": {"platform": "windows", "token": "t"}}),
            json!({"emial": "typo@example.com"}),
        ] {
            assert!(
                serde_json::from_value::<PreferencesSpec>(value.clone()).is_err(),
                "{value}"
            );
        }
    }

    #[test]
    fn an_empty_record_reaches_nobody() {
        let prefs = check(json!({})).unwrap();
        for channel in Channel::ALL {
            assert!(!prefs.has_contact(channel));
        }
        assert_eq!(
            serde_json::to_value(&prefs).unwrap(),
            json!({"user_id": "u1", "unsubscribed": false, "updated_at": 7})
        );
    }
}

//! Message templates: bodies per locale and channel, the locale fallback,
//! and rendering with Handlebars in strict mode.
//!
//! A template is stored as `PUT /v1/templates/{name}` gave it, after
//! [`Template::from_spec`] checked it: every body compiles, no partials or
//! decorators (nothing here registers partials, and inline partials can
//! recurse without bound), and the default locale, being the last
//! fallback, has a body for every channel any locale has.
//!
//! Rendering is strict: a variable the data lacks is an error that names
//! it, so a message never goes out with a blank where a name should be.
//! `{{#if var}}` on a missing variable is allowed (that is how a template
//! says "optional"). Email HTML is HTML-escaped (`{{{var}}}` opts out);
//! email subjects and texts, SMS, push and webhook bodies are not escaped,
//! as none of them is HTML.

use std::collections::{BTreeMap, BTreeSet};

use handlebars::template::TemplateElement;
use handlebars::{Handlebars, RenderErrorReason};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::Channel;
use crate::sms_segments::{self, Encoding, SmsSize};
use crate::validate::{self, InvalidInput};

/// SMS segments a message may take unless configured otherwise: three
/// concatenated parts (459 GSM-7 or 201 UCS-2 characters) is already a
/// long text, and each part is billed as one message.
pub const DEFAULT_MAX_SMS_SEGMENTS: usize = 3;

/// The largest APNs payload (FCM's is the same 4 KB); a push whose alert
/// does not fit would be refused by the platform.
pub const MAX_PUSH_PAYLOAD_BYTES: usize = 4096;

/// Email bodies: a subject and HTML or text or both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailBody {
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsBody {
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushBody {
    pub title: String,
    pub body: String,
}

/// The JSON a webhook receives: every string in it (at any depth) is a
/// template; keys, numbers, booleans and nulls are sent as they are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookBody {
    pub body: Value,
}

/// The bodies of one locale; any channel may be left out.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocaleBodies {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailBody>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms: Option<SmsBody>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<PushBody>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookBody>,
}

impl LocaleBodies {
    pub fn has(&self, channel: Channel) -> bool {
        match channel {
            Channel::Email => self.email.is_some(),
            Channel::Sms => self.sms.is_some(),
            Channel::Push => self.push.is_some(),
            Channel::Webhook => self.webhook.is_some(),
        }
    }

    pub fn channels(&self) -> impl Iterator<Item = Channel> + '_ {
        Channel::ALL.into_iter().filter(|c| self.has(*c))
    }

    /// Every template string of the locale with its field name
    /// (`email.subject`, `webhook.body/order/id`).
    fn sources(&self) -> Vec<(Channel, String, &str)> {
        let mut out = Vec::new();
        if let Some(email) = &self.email {
            out.push((
                Channel::Email,
                "email.subject".into(),
                email.subject.as_str(),
            ));
            if let Some(html) = &email.html {
                out.push((Channel::Email, "email.html".into(), html.as_str()));
            }
            if let Some(text) = &email.text {
                out.push((Channel::Email, "email.text".into(), text.as_str()));
            }
        }
        if let Some(sms) = &self.sms {
            out.push((Channel::Sms, "sms.text".into(), sms.text.as_str()));
        }
        if let Some(push) = &self.push {
            out.push((Channel::Push, "push.title".into(), push.title.as_str()));
            out.push((Channel::Push, "push.body".into(), push.body.as_str()));
        }
        if let Some(webhook) = &self.webhook {
            json_strings(&webhook.body, "webhook.body".into(), &mut out);
        }
        out
    }
}

fn json_strings<'a>(value: &'a Value, path: String, out: &mut Vec<(Channel, String, &'a str)>) {
    match value {
        Value::String(s) => out.push((Channel::Webhook, path, s.as_str())),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                json_strings(item, format!("{path}/{i}"), out);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                json_strings(item, format!("{path}/{key}"), out);
            }
        }
        _ => {}
    }
}

/// The body of `PUT /v1/templates/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateSpec {
    /// The last fallback: used when the user's locale and its language
    /// have no body for a channel.
    pub default_locale: String,
    /// The category of notifications from this template unless the
    /// request names one (opt-outs are per category).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    pub locales: BTreeMap<String, LocaleBodies>,
}

/// A checked template, as stored and as `GET /v1/templates/{name}` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    pub name: String,
    /// Canonical case (`pt-BR`), like the keys of `locales`.
    pub default_locale: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    pub locales: BTreeMap<String, LocaleBodies>,
    /// Unix epoch milliseconds.
    pub updated_at: i64,
}

/// Why a template was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidTemplate {
    #[error(transparent)]
    Input(#[from] InvalidInput),
    #[error("the template has no locales; give at least the default locale's bodies")]
    NoLocales,
    #[error("the default locale {0:?} has no entry in \"locales\"")]
    DefaultLocaleMissing(String),
    #[error("the locales {0:?} and {1:?} are the same locale written twice")]
    DuplicateLocale(String, String),
    #[error("the locale {0:?} has no bodies; give at least one of email, sms, push, webhook")]
    EmptyLocale(String),
    #[error("{locale}: the email needs html or text (or both)")]
    EmailWithoutBody { locale: String },
    #[error(
        "the locale {locale:?} has a {channel} body but the default locale {default:?} has none; the default locale is the last fallback, so it needs every channel"
    )]
    MissingInDefault {
        locale: String,
        channel: Channel,
        default: String,
    },
    #[error("{locale} {field} is empty")]
    EmptyField { locale: String, field: String },
    #[error("{locale} {field} does not compile: {message}")]
    Syntax {
        locale: String,
        field: String,
        message: String,
    },
    #[error(
        "{locale} {field} uses partials or decorators ({{{{> name}}}}, {{{{* name}}}}), which templates here cannot"
    )]
    Unsupported { locale: String, field: String },
}

/// Writes a locale tag in its canonical case: language lower-case
/// (`pt`), script title-case (`Hant`), region upper-case (`BR`),
/// anything else lower-case. Tags that differ only in case are the same
/// locale (BCP 47).
pub fn canonical_locale(tag: &str) -> String {
    tag.split('-')
        .enumerate()
        .map(|(i, part)| {
            if i == 0 {
                part.to_ascii_lowercase()
            } else if part.len() == 4 && part.bytes().all(|b| b.is_ascii_alphabetic()) {
                let mut s = part[..1].to_ascii_uppercase();
                s.push_str(&part[1..].to_ascii_lowercase());
                s
            } else if part.len() == 2 && part.bytes().all(|b| b.is_ascii_alphabetic()) {
                part.to_ascii_uppercase()
            } else {
                part.to_ascii_lowercase()
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// The locales to try, best first: the requested tag, then the tag with
/// its last subtag removed until only the language is left
/// (`zh-Hant-TW`, `zh-Hant`, `zh`; RFC 4647 lookup), then the template's
/// default. A requested tag that is not a locale is skipped.
pub fn fallback_chain(requested: Option<&str>, default_locale: &str) -> Vec<String> {
    let mut chain: Vec<String> = Vec::new();
    if let Some(tag) = requested.filter(|tag| validate::locale(tag).is_ok()) {
        let mut tag = canonical_locale(tag);
        loop {
            chain.push(tag.clone());
            match tag.rfind('-') {
                Some(cut) => tag.truncate(cut),
                None => break,
            }
        }
    }
    let default_locale = canonical_locale(default_locale);
    if !chain.contains(&default_locale) {
        chain.push(default_locale);
    }
    chain
}

fn check_elements(elements: &[TemplateElement]) -> bool {
    elements.iter().all(|element| match element {
        TemplateElement::DecoratorExpression(_)
        | TemplateElement::DecoratorBlock(_)
        | TemplateElement::PartialExpression(_)
        | TemplateElement::PartialBlock(_) => false,
        TemplateElement::HelperBlock(helper)
        | TemplateElement::Expression(helper)
        | TemplateElement::HtmlExpression(helper) => [&helper.template, &helper.inverse]
            .into_iter()
            .flatten()
            .all(|t| check_elements(&t.elements)),
        TemplateElement::RawString(_) | TemplateElement::Comment(_) => true,
        // An element kind a later Handlebars adds is refused until known.
        _ => false,
    })
}

impl Template {
    /// Checks `spec` and makes it the template `name`.
    pub fn from_spec(name: &str, spec: TemplateSpec, now_ms: i64) -> Result<Self, InvalidTemplate> {
        validate::template_name(name)?;
        if let Some(category) = &spec.category {
            validate::category_name(category)?;
        }
        validate::locale(&spec.default_locale)?;
        if spec.locales.is_empty() {
            return Err(InvalidTemplate::NoLocales);
        }
        let default_locale = canonical_locale(&spec.default_locale);
        let mut locales: BTreeMap<String, LocaleBodies> = BTreeMap::new();
        let mut written_as: BTreeMap<String, String> = BTreeMap::new();
        for (tag, bodies) in spec.locales {
            validate::locale(&tag)?;
            let canonical = canonical_locale(&tag);
            if let Some(first) = written_as.insert(canonical.clone(), tag.clone()) {
                return Err(InvalidTemplate::DuplicateLocale(first, tag));
            }
            if bodies.channels().next().is_none() {
                return Err(InvalidTemplate::EmptyLocale(tag));
            }
            if let Some(email) = &bodies.email
                && email.html.is_none()
                && email.text.is_none()
            {
                return Err(InvalidTemplate::EmailWithoutBody { locale: tag });
            }
            for (_, field, source) in bodies.sources() {
                check_source(&canonical, &field, source)?;
            }
            locales.insert(canonical, bodies);
        }
        let Some(defaults) = locales.get(&default_locale) else {
            return Err(InvalidTemplate::DefaultLocaleMissing(spec.default_locale));
        };
        for (locale, bodies) in &locales {
            if let Some(channel) = bodies.channels().find(|c| !defaults.has(*c)) {
                return Err(InvalidTemplate::MissingInDefault {
                    locale: locale.clone(),
                    channel,
                    default: default_locale,
                });
            }
        }
        Ok(Template {
            name: name.to_owned(),
            default_locale,
            category: spec.category,
            locales,
            updated_at: now_ms,
        })
    }

    /// The channels this template can send on (every one the default
    /// locale has, which [`Template::from_spec`] made a superset).
    pub fn channels(&self) -> BTreeSet<Channel> {
        self.locales
            .get(&self.default_locale)
            .map(|b| b.channels().collect())
            .unwrap_or_default()
    }

    /// The first locale of the fallback chain with a body for `channel`.
    pub fn resolve(
        &self,
        channel: Channel,
        requested: Option<&str>,
    ) -> Option<(&str, &LocaleBodies)> {
        fallback_chain(requested, &self.default_locale)
            .into_iter()
            .find_map(|tag| {
                self.locales
                    .get_key_value(&tag)
                    .filter(|(_, bodies)| bodies.has(channel))
            })
            .map(|(tag, bodies)| (tag.as_str(), bodies))
    }
}

fn check_source(locale: &str, field: &str, source: &str) -> Result<(), InvalidTemplate> {
    // Only the subject, SMS and push texts must say something; an empty
    // HTML part or webhook string can be deliberate.
    let must_have_text = matches!(
        field,
        "email.subject" | "sms.text" | "push.title" | "push.body"
    );
    if must_have_text && source.trim().is_empty() {
        return Err(InvalidTemplate::EmptyField {
            locale: locale.to_owned(),
            field: field.to_owned(),
        });
    }
    let compiled =
        handlebars::Template::compile(source).map_err(|err| InvalidTemplate::Syntax {
            locale: locale.to_owned(),
            field: field.to_owned(),
            message: err.to_string(),
        })?;
    if !check_elements(&compiled.elements) {
        return Err(InvalidTemplate::Unsupported {
            locale: locale.to_owned(),
            field: field.to_owned(),
        });
    }
    Ok(())
}

/// A message rendered for one channel, ready for a provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "channel", rename_all = "snake_case")]
pub enum Content {
    Email {
        subject: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        html: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
    Sms {
        text: String,
        segments: usize,
    },
    Push {
        title: String,
        body: String,
    },
    Webhook {
        body: Value,
    },
}

/// What rendering produced, and in which locale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rendered {
    pub locale: String,
    pub content: Content,
}

/// Why a message could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("the template {template:?} has no {channel} body")]
    NoBody { template: String, channel: Channel },
    #[error(
        "the template {template:?} ({locale} {field}) uses the variable {variable:?}, which \"data\" does not have"
    )]
    MissingVariable {
        template: String,
        locale: String,
        field: String,
        variable: String,
    },
    #[error("the template {template:?} ({locale} {field}) cannot be rendered: {message}")]
    Failed {
        template: String,
        locale: String,
        field: String,
        message: String,
    },
    #[error("the template {template:?} ({locale} {field}) renders to nothing")]
    Empty {
        template: String,
        locale: String,
        field: String,
    },
    #[error(
        "the template {template:?} ({locale} email.subject) renders with a line break, which a subject cannot have"
    )]
    SubjectLineBreak { template: String, locale: String },
    #[error(
        "the template {template:?} ({locale} sms.text) renders to {} SMS segments ({} {}); at most {max} are allowed",
        .size.segments,
        .size.units,
        match .size.encoding { Encoding::Gsm7 => "GSM-7 characters", Encoding::Ucs2 => "UCS-2 code units" }
    )]
    SmsTooLong {
        template: String,
        locale: String,
        size: SmsSize,
        max: usize,
    },
    #[error(
        "the template {template:?} ({locale} push) renders to a {bytes}-byte push payload; at most {MAX_PUSH_PAYLOAD_BYTES} fit"
    )]
    PushTooLarge {
        template: String,
        locale: String,
        bytes: usize,
    },
}

/// Limits checked on rendered messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderLimits {
    pub max_sms_segments: usize,
}

impl Default for RenderLimits {
    fn default() -> Self {
        Self {
            max_sms_segments: DEFAULT_MAX_SMS_SEGMENTS,
        }
    }
}

/// Renders templates: one strict Handlebars registry that HTML-escapes
/// (email HTML) and one that does not (everything else).
pub struct Renderer {
    html: Handlebars<'static>,
    plain: Handlebars<'static>,
    limits: RenderLimits,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("limits", &self.limits)
            .finish()
    }
}

impl Renderer {
    pub fn new(limits: RenderLimits) -> Self {
        let mut html = Handlebars::new();
        html.set_strict_mode(true);
        let mut plain = Handlebars::new();
        plain.set_strict_mode(true);
        plain.register_escape_fn(handlebars::no_escape);
        Self {
            html,
            plain,
            limits,
        }
    }

    pub fn limits(&self) -> RenderLimits {
        self.limits
    }

    /// Renders `template` for `channel` in the best locale for
    /// `requested` (see [`fallback_chain`]) with `data`.
    pub fn render(
        &self,
        template: &Template,
        channel: Channel,
        requested_locale: Option<&str>,
        data: &Value,
    ) -> Result<Rendered, RenderError> {
        let (locale, bodies) =
            template
                .resolve(channel, requested_locale)
                .ok_or_else(|| RenderError::NoBody {
                    template: template.name.clone(),
                    channel,
                })?;
        let ctx = Ctx {
            renderer: self,
            template: &template.name,
            locale,
            data,
        };
        let content = match channel {
            Channel::Email => {
                let email = bodies.email.as_ref().expect("resolve found an email body");
                let subject = ctx.plain("email.subject", &email.subject)?;
                if subject.contains(['\r', '\n']) {
                    return Err(RenderError::SubjectLineBreak {
                        template: template.name.clone(),
                        locale: locale.to_owned(),
                    });
                }
                ctx.non_empty("email.subject", &subject)?;
                Content::Email {
                    subject,
                    html: email
                        .html
                        .as_deref()
                        .map(|s| ctx.run(&self.html, "email.html", s))
                        .transpose()?,
                    text: email
                        .text
                        .as_deref()
                        .map(|s| ctx.plain("email.text", s))
                        .transpose()?,
                }
            }
            Channel::Sms => {
                let sms = bodies.sms.as_ref().expect("resolve found an sms body");
                let text = ctx.plain("sms.text", &sms.text)?;
                ctx.non_empty("sms.text", &text)?;
                let size = sms_segments::measure(&text);
                if size.segments > self.limits.max_sms_segments {
                    return Err(RenderError::SmsTooLong {
                        template: template.name.clone(),
                        locale: locale.to_owned(),
                        size,
                        max: self.limits.max_sms_segments,
                    });
                }
                Content::Sms {
                    text,
                    segments: size.segments,
                }
            }
            Channel::Push => {
                let push = bodies.push.as_ref().expect("resolve found a push body");
                let title = ctx.plain("push.title", &push.title)?;
                let body = ctx.plain("push.body", &push.body)?;
                ctx.non_empty("push.title", &title)?;
                ctx.non_empty("push.body", &body)?;
                // Measured as the smallest APNs payload carrying the alert.
                let payload = serde_json::json!({"aps": {"alert": {"title": title, "body": body}}});
                let bytes = payload.to_string().len();
                if bytes > MAX_PUSH_PAYLOAD_BYTES {
                    return Err(RenderError::PushTooLarge {
                        template: template.name.clone(),
                        locale: locale.to_owned(),
                        bytes,
                    });
                }
                Content::Push { title, body }
            }
            Channel::Webhook => {
                let webhook = bodies
                    .webhook
                    .as_ref()
                    .expect("resolve found a webhook body");
                Content::Webhook {
                    body: ctx.json(&webhook.body, "webhook.body".into())?,
                }
            }
        };
        Ok(Rendered {
            locale: locale.to_owned(),
            content,
        })
    }
}

/// One rendering: what error messages need to say where.
struct Ctx<'a> {
    renderer: &'a Renderer,
    template: &'a str,
    locale: &'a str,
    data: &'a Value,
}

impl Ctx<'_> {
    fn plain(&self, field: &str, source: &str) -> Result<String, RenderError> {
        self.run(&self.renderer.plain, field, source)
    }

    fn run(
        &self,
        registry: &Handlebars<'static>,
        field: &str,
        source: &str,
    ) -> Result<String, RenderError> {
        registry
            .render_template(source, self.data)
            .map_err(|err| match err.reason() {
                RenderErrorReason::MissingVariable(Some(variable)) => {
                    RenderError::MissingVariable {
                        template: self.template.to_owned(),
                        locale: self.locale.to_owned(),
                        field: field.to_owned(),
                        variable: variable.clone(),
                    }
                }
                reason => RenderError::Failed {
                    template: self.template.to_owned(),
                    locale: self.locale.to_owned(),
                    field: field.to_owned(),
                    message: reason.to_string(),
                },
            })
    }

    fn non_empty(&self, field: &str, rendered: &str) -> Result<(), RenderError> {
        if rendered.trim().is_empty() {
            return Err(RenderError::Empty {
                template: self.template.to_owned(),
                locale: self.locale.to_owned(),
                field: field.to_owned(),
            });
        }
        Ok(())
    }

    fn json(&self, value: &Value, path: String) -> Result<Value, RenderError> {
        Ok(match value {
            Value::String(s) => Value::String(self.plain(&path, s)?),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| self.json(item, format!("{path}/{i}")))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, item)| Ok((k.clone(), self.json(item, format!("{path}/{k}"))?)))
                    .collect::<Result<_, RenderError>>()?,
            ),
            other => other.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(value: Value) -> TemplateSpec {
        serde_json::from_value(value).unwrap()
    }

    fn order_shipped() -> Template {
        Template::from_spec(
            "order-shipped",
            spec(json!({
                "default_locale": "en",
                "category": "orders",
                "locales": {
                    "en": {
                        "email": {
                            "subject": "Order {{order.id}} has shipped",
                            "html": "<p>Hi {{name}}, your order <b>{{order.id}}</b> is on its way.</p>",
                            "text": "Hi {{name}}, your order {{order.id}} is on its way."
                        },
                        "sms": {"text": "Hi {{name}}, order {{order.id}} shipped{{#if eta}}, ETA {{eta}}{{/if}}."},
                        "push": {"title": "Shipped", "body": "Order {{order.id}} is on its way"},
                        "webhook": {"body": {"event": "order.shipped", "order": "{{order.id}}", "items": ["{{name}}", 3, true, null]}}
                    },
                    "pt": {
                        "sms": {"text": "Olá {{name}}, a encomenda {{order.id}} foi enviada."}
                    },
                    "pt-br": {
                        "email": {"subject": "Pedido {{order.id}} enviado", "text": "Oi {{name}}!"}
                    }
                }
            })),
            1_000,
        )
        .unwrap()
    }

    fn data() -> Value {
        json!({"name": "Ana <Admin> & \"Co\"", "order": {"id": "A-17"}})
    }

    fn renderer() -> Renderer {
        Renderer::new(RenderLimits::default())
    }

    #[test]
    fn locale_tags_get_their_canonical_case() {
        assert_eq!(canonical_locale("pt-br"), "pt-BR");
        assert_eq!(canonical_locale("ZH-hant-tw"), "zh-Hant-TW");
        assert_eq!(canonical_locale("es-419"), "es-419");
        assert_eq!(canonical_locale("EN"), "en");
    }

    #[test]
    fn the_fallback_chain_drops_subtags_then_uses_the_default() {
        assert_eq!(fallback_chain(Some("pt-BR"), "en"), ["pt-BR", "pt", "en"]);
        assert_eq!(
            fallback_chain(Some("zh-hant-tw"), "en"),
            ["zh-Hant-TW", "zh-Hant", "zh", "en"]
        );
        assert_eq!(fallback_chain(Some("en-GB"), "en"), ["en-GB", "en"]);
        assert_eq!(fallback_chain(None, "en"), ["en"]);
        assert_eq!(fallback_chain(Some("not a locale"), "en"), ["en"]);
    }

    #[test]
    fn locale_fallback_is_per_channel() {
        let t = order_shipped();
        assert_eq!(t.default_locale, "en");
        assert!(t.locales.contains_key("pt-BR"), "stored in canonical case");
        // Exact match.
        assert_eq!(t.resolve(Channel::Email, Some("pt-BR")).unwrap().0, "pt-BR");
        // pt-BR has no SMS: its language has one.
        assert_eq!(t.resolve(Channel::Sms, Some("pt-BR")).unwrap().0, "pt");
        // Nothing Portuguese has push: the default.
        assert_eq!(t.resolve(Channel::Push, Some("pt-BR")).unwrap().0, "en");
        // pt-PT falls back to pt for SMS and to en for email.
        assert_eq!(t.resolve(Channel::Sms, Some("pt-PT")).unwrap().0, "pt");
        assert_eq!(t.resolve(Channel::Email, Some("pt-PT")).unwrap().0, "en");
        assert_eq!(t.resolve(Channel::Email, None).unwrap().0, "en");
        assert_eq!(t.channels(), BTreeSet::from(Channel::ALL));
    }

    #[test]
    fn email_html_is_escaped_and_the_rest_is_not() {
        let rendered = renderer()
            .render(&order_shipped(), Channel::Email, Some("en-US"), &data())
            .unwrap();
        assert_eq!(rendered.locale, "en");
        assert_eq!(
            rendered.content,
            Content::Email {
                subject: "Order A-17 has shipped".into(),
                html: Some(
                    "<p>Hi Ana &lt;Admin&gt; &amp; &quot;Co&quot;, your order <b>A-17</b> is on its way.</p>"
                        .into()
                ),
                text: Some("Hi Ana <Admin> & \"Co\", your order A-17 is on its way.".into()),
            }
        );
        let sms = renderer()
            .render(&order_shipped(), Channel::Sms, None, &data())
            .unwrap();
        assert_eq!(
            sms.content,
            Content::Sms {
                text: "Hi Ana <Admin> & \"Co\", order A-17 shipped.".into(),
                segments: 1
            }
        );
        let push = renderer()
            .render(&order_shipped(), Channel::Push, None, &data())
            .unwrap();
        assert_eq!(
            push.content,
            Content::Push {
                title: "Shipped".into(),
                body: "Order A-17 is on its way".into()
            }
        );
    }

    #[test]
    fn webhook_bodies_render_every_string_and_keep_other_values() {
        let rendered = renderer()
            .render(&order_shipped(), Channel::Webhook, None, &data())
            .unwrap();
        assert_eq!(
            rendered.content,
            Content::Webhook {
                body: json!({"event": "order.shipped", "order": "A-17", "items": ["Ana <Admin> & \"Co\"", 3, true, null]})
            }
        );
    }

    #[test]
    fn the_locale_found_is_rendered() {
        let r = renderer();
        let sms = r
            .render(&order_shipped(), Channel::Sms, Some("pt-BR"), &data())
            .unwrap();
        assert_eq!(sms.locale, "pt");
        assert_eq!(
            sms.content,
            Content::Sms {
                text: "Olá Ana <Admin> & \"Co\", a encomenda A-17 foi enviada.".into(),
                segments: 1
            }
        );
        let email = r
            .render(&order_shipped(), Channel::Email, Some("pt-br"), &data())
            .unwrap();
        assert_eq!(email.locale, "pt-BR");
        assert!(matches!(email.content, Content::Email { html: None, .. }));
    }

    #[test]
    fn a_missing_variable_is_named() {
        let err = renderer()
            .render(
                &order_shipped(),
                Channel::Email,
                None,
                &json!({"name": "Ana"}),
            )
            .unwrap_err();
        assert_eq!(
            err,
            RenderError::MissingVariable {
                template: "order-shipped".into(),
                locale: "en".into(),
                field: "email.subject".into(),
                variable: "order.id".into(),
            }
        );
        assert_eq!(
            err.to_string(),
            "the template \"order-shipped\" (en email.subject) uses the variable \"order.id\", which \"data\" does not have"
        );
        let err = renderer()
            .render(
                &order_shipped(),
                Channel::Webhook,
                None,
                &json!({"order": {"id": 1}}),
            )
            .unwrap_err();
        assert!(matches!(
            err,
            RenderError::MissingVariable { ref field, ref variable, .. }
                if field == "webhook.body/items/0" && variable == "name"
        ));
    }

    #[test]
    fn if_on_a_missing_variable_is_how_a_template_says_optional() {
        let r = renderer();
        let with_eta = r
            .render(
                &order_shipped(),
                Channel::Sms,
                None,
                &json!({"name": "Ana", "order": {"id": "A-17"}, "eta": "Friday"}),
            )
            .unwrap();
        assert!(
            matches!(with_eta.content, Content::Sms { ref text, .. } if text == "Hi Ana, order A-17 shipped, ETA Friday.")
        );
    }

    #[test]
    fn each_over_a_list() {
        let t = Template::from_spec(
            "digest",
            spec(json!({"default_locale": "en", "locales": {"en": {"email": {
                "subject": "{{len items}} updates",
                "html": "<ul>{{#each items}}<li>{{title}}</li>{{/each}}</ul>"
            }}}})),
            0,
        )
        .unwrap();
        let rendered = renderer()
            .render(
                &t,
                Channel::Email,
                None,
                &json!({"items": [{"title": "a<b"}, {"title": "c"}]}),
            )
            .unwrap();
        assert_eq!(
            rendered.content,
            Content::Email {
                subject: "2 updates".into(),
                html: Some("<ul><li>a&lt;b</li><li>c</li></ul>".into()),
                text: None
            }
        );
        // A field missing inside an item is named too.
        let err = renderer()
            .render(&t, Channel::Email, None, &json!({"items": [{"name": "x"}]}))
            .unwrap_err();
        assert!(
            matches!(err, RenderError::MissingVariable { ref variable, .. } if variable.contains("title")),
            "{err:?}"
        );
    }

    #[test]
    fn sms_over_the_segment_limit_is_refused() {
        let t = Template::from_spec(
            "long",
            spec(json!({"default_locale": "en", "locales": {"en": {"sms": {"text": "{{text}}"}}}})),
            0,
        )
        .unwrap();
        let r = Renderer::new(RenderLimits {
            max_sms_segments: 2,
        });
        let ok = r
            .render(&t, Channel::Sms, None, &json!({"text": "a".repeat(306)}))
            .unwrap();
        assert!(matches!(ok.content, Content::Sms { segments: 2, .. }));
        let err = r
            .render(&t, Channel::Sms, None, &json!({"text": "a".repeat(307)}))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the template \"long\" (en sms.text) renders to 3 SMS segments (307 GSM-7 characters); at most 2 are allowed"
        );
        let err = r
            .render(&t, Channel::Sms, None, &json!({"text": "ж".repeat(135)}))
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("3 SMS segments (135 UCS-2 code units)")
        );
        let err = r
            .render(&t, Channel::Sms, None, &json!({"text": "  "}))
            .unwrap_err();
        assert!(matches!(err, RenderError::Empty { .. }));
    }

    #[test]
    fn subjects_with_line_breaks_and_oversized_pushes_are_refused() {
        let t = Template::from_spec(
            "t",
            spec(json!({"default_locale": "en", "locales": {"en": {
                "email": {"subject": "Hello {{who}}", "text": "x"},
                "push": {"title": "t", "body": "{{body}}"}
            }}})),
            0,
        )
        .unwrap();
        let r = renderer();
        let err = r
            .render(
                &t,
                Channel::Email,
                None,
                &json!({"who": "x\r\nBcc: victim@example.com"}),
            )
            .unwrap_err();
        assert!(matches!(err, RenderError::SubjectLineBreak { .. }));
        r.render(&t, Channel::Push, None, &json!({"body": "b".repeat(4000)}))
            .unwrap();
        let err = r
            .render(&t, Channel::Push, None, &json!({"body": "b".repeat(4100)}))
            .unwrap_err();
        assert!(matches!(err, RenderError::PushTooLarge { bytes, .. } if bytes > 4096));
        // A channel the template lacks.
        assert_eq!(
            r.render(&t, Channel::Sms, None, &json!({})).unwrap_err(),
            RenderError::NoBody {
                template: "t".into(),
                channel: Channel::Sms
            }
        );
    }

    fn refused(value: Value) -> String {
        let spec: TemplateSpec = match serde_json::from_value(value) {
            Ok(spec) => spec,
            Err(err) => return format!("json: {err}"),
        };
        Template::from_spec("t", spec, 0).unwrap_err().to_string()
    }

    #[test]
    fn bad_templates_are_refused_with_the_reason() {
        let cases = [
            (json!({"default_locale": "en", "locales": {}}), "no locales"),
            (
                json!({"default_locale": "en", "locales": {"fr": {"sms": {"text": "x"}}}}),
                "default locale \"en\" has no entry",
            ),
            (
                json!({"default_locale": "english", "locales": {"en": {"sms": {"text": "x"}}}}),
                "not a locale tag",
            ),
            (
                json!({"default_locale": "en", "locales": {"en": {"sms": {"text": "x"}}, "EN": {"sms": {"text": "y"}}}}),
                "the same locale written twice",
            ),
            (
                json!({"default_locale": "en", "locales": {"en": {}}}),
                "has no bodies",
            ),
            (
                json!({"default_locale": "en", "locales": {"en": {"email": {"subject": "s"}}}}),
                "html or text",
            ),
            (
                json!({"default_locale": "en", "locales": {"en": {"sms": {"text": "x"}}, "fr": {"push": {"title": "t", "body": "b"}}}}),
                "the locale \"fr\" has a push body but the default locale \"en\" has none",
            ),
            (
                json!({"default_locale": "en", "locales": {"en": {"sms": {"text": "Hi {{name"}}}}),
                "en sms.text does not compile",
            ),
            (
                json!({"default_locale": "en", "locales": {"en": {"sms": {"text": "{{#if a}}x"}}}}),
                "en sms.text does not compile",
            ),
            (
                json!({"default_locale": "en", "locales": {"en": {"sms": {"text": "{{> header}}"}}}}),
                "partials or decorators",
            ),
            (
                json!({"default_locale": "en", "locales": {"en": {"sms": {"text": "{{#if a}}{{#*inline \"p\"}}{{> p}}{{/inline}}{{/if}}"}}}}),
                "partials or decorators",
            ),
            (
                json!({"default_locale": "en", "locales": {"en": {"push": {"title": " ", "body": "b"}}}}),
                "en push.title is empty",
            ),
            (
                json!({"default_locale": "en", "locales": {"en": {"webhook": {"body": {"a": ["{{x"]}}}}}),
                "en webhook.body/a/0 does not compile",
            ),
            (
                json!({"default_locale": "en", "category": "Promo", "locales": {"en": {"sms": {"text": "x"}}}}),
                "the category \"Promo\"",
            ),
            (
                json!({"default_locale": "en", "locales": {"en": {"sms": {"txt": "x"}}}}),
                "unknown field `txt`",
            ),
            (
                json!({"default_locale": "en", "locales": {"en": {"fax": {"text": "x"}}}}),
                "unknown field `fax`",
            ),
        ];
        for (value, reason) in cases {
            let message = refused(value.clone());
            assert!(message.contains(reason), "{value}: {message}");
        }
        let spec = spec(json!({"default_locale": "en", "locales": {"en": {"sms": {"text": "x"}}}}));
        assert!(
            Template::from_spec("Bad Name", spec, 0)
                .unwrap_err()
                .to_string()
                .contains("template name")
        );
    }
}

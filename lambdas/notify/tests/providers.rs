//! The SNS providers against the emulator, checked by what moto recorded
//! (its model dump): the SMS to the number, the push to the device's
//! platform endpoint; and how refusals are classified.

mod support;

use std::collections::BTreeMap;

use notify::model::{Channel, Priority};
use notify::preferences::{OptOuts, Preferences, PushContact, PushPlatform};
use notify::provider::{NotificationProvider, ProviderError};
use notify::ses_provider::SesEmailProvider;
use notify::sns_provider::{PushPlatformKey, PushProvider, SmsProvider};
use notify::store::DeliveryJob;
use notify::templates::{Content, Rendered};
use serde_json::Value;
use support::moto;

fn unique() -> String {
    format!(
        "{}{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
            % 1_000_000_000
    )
}

fn prefs() -> Preferences {
    Preferences {
        user_id: "ana".into(),
        email: None,
        phone: None,
        push: None,
        webhook: None,
        locale: None,
        timezone: None,
        quiet_hours: None,
        opt_out: OptOuts::default(),
        unsubscribed: false,
        updated_at: 0,
    }
}

fn job(channel: Channel, priority: Priority, content: Content) -> DeliveryJob {
    DeliveryJob {
        notification_id: "ntf_01J0CK6Q1M8Y2ZB3F5GQW7R9TX".into(),
        user_id: "ana".into(),
        channel,
        priority,
        category: None,
        not_before: None,
        rendered: Rendered {
            locale: "en".into(),
            content,
        },
        attempt: 0,
        enqueued_at: 0,
    }
}

async fn sns(endpoint: &str) -> aws_sdk_sns::Client {
    aws_sdk_sns::Client::new(&archform_testkit::sdk_config(endpoint).await)
}

#[tokio::test]
async fn an_sms_is_published_to_the_number() {
    let endpoint = moto::recording_endpoint().await;
    let provider = SmsProvider::new(sns(&endpoint).await, Some("ARCHFORM".into()));
    // A number of this run, so the shared emulator's other SMS do not match.
    let suffix = unique();
    let phone = format!("+3519{}", &suffix[suffix.len() - 8..]);
    let mut user = prefs();
    user.phone = Some(phone.clone());
    let text = format!("Olá Ana, a encomenda A-17 foi enviada ({suffix}).");
    let accepted = provider
        .send(
            &job(
                Channel::Sms,
                Priority::Bulk,
                Content::Sms {
                    text: text.clone(),
                    segments: 1,
                },
            ),
            &user,
        )
        .await
        .unwrap();
    let id = accepted.provider_id.expect("an SNS message id");
    let recorded = moto::models(&endpoint, "sns", "SMS").await;
    let sms = recorded
        .iter()
        .find(|m| m["message_id"] == id.as_str())
        .unwrap_or_else(|| panic!("moto recorded no SMS {id}: {recorded:?}"));
    assert_eq!(sms["phone_number"], phone.as_str());
    assert_eq!(sms["message"], text.as_str());
}

#[tokio::test]
async fn an_sms_to_no_or_a_bad_number_fails_permanently() {
    let endpoint = archform_testkit::test_endpoint();
    let provider = SmsProvider::new(sns(&endpoint).await, None);
    let sms = job(
        Channel::Sms,
        Priority::Transactional,
        Content::Sms {
            text: "hi".into(),
            segments: 1,
        },
    );
    let err = provider.send(&sms, &prefs()).await.unwrap_err();
    assert_eq!(
        err,
        ProviderError::Permanent("the user has no phone number".into())
    );
    let mut user = prefs();
    user.phone = Some("0912345678".into());
    assert!(!provider.send(&sms, &user).await.unwrap_err().is_transient());
    // A job of another channel is a wiring mistake, not worth retrying.
    let push = job(
        Channel::Push,
        Priority::Transactional,
        Content::Push {
            title: "t".into(),
            body: "b".into(),
        },
    );
    assert!(
        !provider
            .send(&push, &user)
            .await
            .unwrap_err()
            .is_transient()
    );
}

#[tokio::test]
async fn a_push_is_published_to_the_devices_endpoint() {
    let endpoint = moto::recording_endpoint().await;
    let client = sns(&endpoint).await;
    let application = client
        .create_platform_application()
        .name(format!("notify-apns-{}", unique()))
        .platform("APNS")
        .attributes("PlatformCredential", "test-key")
        .attributes("PlatformPrincipal", "test-cert")
        .send()
        .await
        .unwrap()
        .platform_application_arn
        .unwrap();
    let provider = PushProvider::new(
        client.clone(),
        BTreeMap::from([(PushPlatformKey::Apns, application.clone())]),
    );
    let token = format!("{:0>64}", unique());
    let mut user = prefs();
    user.push = Some(PushContact {
        platform: PushPlatform::Apns,
        token: token.clone(),
    });
    let push = job(
        Channel::Push,
        Priority::Transactional,
        Content::Push {
            title: "Shipped".into(),
            body: "Order A-17 is on its way".into(),
        },
    );
    let first = provider.send(&push, &user).await.unwrap();
    let second = provider.send(&push, &user).await.unwrap();
    assert_ne!(first.provider_id, second.provider_id);

    let endpoints = moto::models(&endpoint, "sns", "PlatformEndpoint").await;
    let device: Vec<&Value> = endpoints
        .iter()
        .filter(|e| e["token"] == token.as_str())
        .collect();
    assert_eq!(device.len(), 1, "one endpoint per token: {endpoints:?}");
    let messages = device[0]["messages"].as_object().unwrap();
    assert_eq!(messages.len(), 2);
    let message: Value = serde_json::from_str(
        messages[first.provider_id.as_deref().unwrap()]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let apns: Value = serde_json::from_str(message["APNS"].as_str().unwrap()).unwrap();
    assert_eq!(apns["aps"]["alert"]["title"], "Shipped");
    assert_eq!(apns["aps"]["alert"]["body"], "Order A-17 is on its way");

    // The platform disables the endpoint (the app was uninstalled): a
    // permanent failure.
    let arn = device[0]["arn"].as_str().unwrap();
    client
        .set_endpoint_attributes()
        .endpoint_arn(arn)
        .attributes("Enabled", "false")
        .send()
        .await
        .unwrap();
    let err = provider.send(&push, &user).await.unwrap_err();
    assert!(!err.is_transient(), "{err}");
    assert!(err.to_string().contains("EndpointDisabled"), "{err}");

    // A platform without a configured application.
    user.push = Some(PushContact {
        platform: PushPlatform::Fcm,
        token: "fcm-token".into(),
    });
    let err = provider.send(&push, &user).await.unwrap_err();
    assert!(!err.is_transient());
    assert!(
        err.to_string()
            .contains("NOTIFY_FCM_PLATFORM_APPLICATION_ARN"),
        "{err}"
    );
}

#[tokio::test]
async fn an_unreachable_sns_is_a_transient_failure() {
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let config = archform_testkit::sdk_config(&endpoint).await;
    let config = config
        .into_builder()
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .build();
    let provider = SmsProvider::new(aws_sdk_sns::Client::new(&config), None);
    let mut user = prefs();
    user.phone = Some("+351912345678".into());
    let sms = job(
        Channel::Sms,
        Priority::Transactional,
        Content::Sms {
            text: "hi".into(),
            segments: 1,
        },
    );
    let err = provider.send(&sms, &user).await.unwrap_err();
    assert!(err.is_transient(), "{err}");
}

fn email_job(subject: &str) -> DeliveryJob {
    job(
        Channel::Email,
        Priority::Transactional,
        Content::Email {
            subject: subject.into(),
            html: Some("<p>Hi Ana, order <b>A-17</b> is on its way.</p>".into()),
            text: Some("Hi Ana, order A-17 is on its way.".into()),
        },
    )
}

#[tokio::test]
async fn an_email_is_sent_with_ses_v2_from_a_verified_identity_only() {
    let endpoint = moto::recording_endpoint().await;
    let sdk = archform_testkit::sdk_config(&endpoint).await;
    let client = aws_sdk_sesv2::Client::new(&sdk);
    let suffix = unique();
    let from = format!("orders-{suffix}@example.com");
    client
        .create_email_identity()
        .email_identity(&from)
        .send()
        .await
        .expect("the sender identity");

    let provider = SesEmailProvider::new(client.clone(), from.clone(), None);
    let mut user = prefs();
    user.email = Some(format!("ana-{suffix}@example.com"));
    let subject = format!("Order A-17 has shipped ({suffix})");
    let accepted = provider.send(&email_job(&subject), &user).await.unwrap();
    let id = accepted.provider_id.expect("an SES message id");
    let messages = moto::models(&endpoint, "ses", "Message").await;
    let mail = messages
        .iter()
        .find(|m| m["id"] == id.as_str())
        .unwrap_or_else(|| panic!("moto recorded no message {id}: {messages:?}"));
    assert_eq!(mail["source"], from.as_str());
    assert_eq!(mail["subject"], subject.as_str());
    assert!(
        mail["destinations"]
            .to_string()
            .contains(&format!("ana-{suffix}@example.com")),
        "{mail}"
    );
    assert!(
        mail["body"].as_str().unwrap().contains("<b>A-17</b>"),
        "{mail}"
    );

    // From an identity SES does not know: refused, for good.
    let stranger = SesEmailProvider::new(client, format!("nobody-{suffix}@example.com"), None);
    let err = stranger.send(&email_job("x"), &user).await.unwrap_err();
    assert!(!err.is_transient(), "{err}");
    assert!(err.to_string().contains("MessageRejected"), "{err}");
    // No address, or one SES would not take.
    let err = provider.send(&email_job("x"), &prefs()).await.unwrap_err();
    assert_eq!(
        err,
        ProviderError::Permanent("the user has no email address".into())
    );
}

#[tokio::test]
async fn an_unreachable_ses_is_a_transient_failure() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let sdk = archform_testkit::sdk_config(&endpoint).await;
    let provider = SesEmailProvider::new(
        aws_sdk_sesv2::Client::new(&sdk),
        "orders@example.com".into(),
        None,
    );
    let mut user = prefs();
    user.email = Some("ana@example.com".into());
    let err = provider.send(&email_job("x"), &user).await.unwrap_err();
    assert!(err.is_transient(), "{err}");
}

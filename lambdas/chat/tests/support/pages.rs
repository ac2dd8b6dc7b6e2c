//! The web page in headless Chromium: two users in two browsers, as people
//! use the chat. Run against `chat serve` (lambdas/chat/tests/serve.rs) and
//! against the deployed page under `archform dev` (tests/chat_e2e.rs).

#![allow(dead_code)]

use std::time::Duration;

use archform_testkit::browser::Browser;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(15);

/// How a page signs its user in.
pub enum SignIn<'a> {
    /// Open `url` (which carries `?token=...`, and `&ws=...` if needed).
    Url(&'a str),
    /// Open `url` and use the development panel (`chat serve --dev-tokens`).
    DevPanel {
        url: &'a str,
        user: &'a str,
        conversations: &'a str,
    },
}

async fn open(sign_in: &SignIn<'_>) -> Browser {
    let mut browser = Browser::launch().await.expect("headless chromium");
    match sign_in {
        SignIn::Url(url) => browser.navigate(url).await.unwrap(),
        SignIn::DevPanel {
            url,
            user,
            conversations,
        } => {
            browser.navigate(url).await.unwrap();
            let script = format!(
                "document.getElementById('dev-user').value = {}; \
                 document.getElementById('dev-conversations').value = {}; \
                 document.getElementById('dev-signin').click(); true",
                json!(user),
                json!(conversations)
            );
            browser.eval(&script).await.unwrap();
        }
    }
    browser
        .wait_for(
            "document.getElementById('status').textContent === 'connected'",
            WAIT,
        )
        .await
        .expect("the page signs in and connects");
    browser
}

async fn wait(browser: &mut Browser, condition: &str, what: &str) {
    if let Err(e) = browser.wait_for(condition, WAIT).await {
        let body = browser
            .eval("document.body.innerText")
            .await
            .unwrap_or(Value::Null);
        panic!(
            "{what}: {e:?}; the page shows:\n{}",
            body.as_str().unwrap_or_default()
        );
    }
}

/// Alice and bob, each in a page, both in their first conversation.
pub async fn two_users_in_two_pages(alice: SignIn<'_>, bob: SignIn<'_>, names: (&str, &str)) {
    let (alice_name, bob_name) = names;
    let mut a = open(&alice).await;
    let mut b = open(&bob).await;
    let online = |user: &str| {
        format!(
            "!!document.querySelector('#online li[data-user={}]')",
            json!(user)
        )
    };
    wait(&mut a, &online(bob_name), "alice sees bob online").await;
    wait(&mut b, &online(alice_name), "bob sees alice online").await;

    // Bob writes; alice's page shows it as text, never as markup.
    b.eval(
        "document.getElementById('text').value = 'hi <b>alice</b>'; \
         document.getElementById('composer').requestSubmit(); true",
    )
    .await
    .unwrap();
    let shown = "[...document.querySelectorAll('#messages .text')].some(e => e.textContent === 'hi <b>alice</b>')";
    wait(&mut a, shown, "bob's message on alice's page").await;
    wait(&mut b, shown, "bob's message on his own page").await;
    assert_eq!(
        a.eval("document.querySelectorAll('#messages b').length")
            .await
            .unwrap(),
        json!(0),
        "message text is never HTML"
    );
    // Alice's page marks it read; bob's page says so.
    wait(
        &mut b,
        &format!(
            "[...document.querySelectorAll('#messages .read')].some(e => e.textContent.includes({}))",
            json!(alice_name)
        ),
        "bob sees alice's read receipt",
    )
    .await;
    // Alice types; bob's page shows who is typing.
    a.eval(
        "const t = document.getElementById('text'); t.value = 'typing…'; \
         t.dispatchEvent(new Event('input')); true",
    )
    .await
    .unwrap();
    wait(
        &mut b,
        &format!(
            "document.getElementById('typing').textContent.includes({})",
            json!(alice_name)
        ),
        "bob sees alice typing",
    )
    .await;
    // Alice leaves: bob's page shows her offline.
    drop(a);
    wait(
        &mut b,
        &format!("!({})", online(alice_name)),
        "alice goes offline on bob's page",
    )
    .await;
}

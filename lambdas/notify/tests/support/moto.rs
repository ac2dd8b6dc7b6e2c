//! What moto recorded: `GET /moto-api/data.json` dumps its models (SNS
//! `SMS` messages, `PlatformEndpoint`s with the messages published to
//! them, ...).
//!
//! The dump fails as a whole (500) once any model in the emulator has a
//! property that raises - moto's Lambda functions do, looking for Docker -
//! and a shared emulator that other tests deploy functions to reaches that
//! state. So tests that read the dump use the shared emulator while its
//! dump works, and otherwise a private moto of their own, started once per
//! test process.

#![allow(dead_code)]

use std::sync::OnceLock;

use archform_emulator::{EmulatorKind, OwnedEmulator};
use serde_json::Value;

use super::http;

async fn dump_at(endpoint: &str) -> Result<Value, String> {
    let answer = http::get(&format!("{endpoint}/moto-api/data.json")).await;
    if !answer.status.is_success() {
        return Err(format!("data.json answered {}", answer.status));
    }
    serde_json::from_slice(&answer.body).map_err(|err| err.to_string())
}

/// An emulator endpoint whose model dump works.
pub async fn recording_endpoint() -> String {
    let shared = archform_testkit::test_endpoint();
    if dump_at(&shared).await.is_ok() {
        return shared;
    }
    static PRIVATE: OnceLock<OwnedEmulator> = OnceLock::new();
    tokio::task::spawn_blocking(|| {
        PRIVATE
            .get_or_init(|| {
                eprintln!(
                    "the shared emulator cannot dump its models; starting a private moto for this test process"
                );
                OwnedEmulator::start(EmulatorKind::Moto)
                    .unwrap_or_else(|err| panic!("cannot start a private moto: {err}"))
            })
            .endpoint()
            .to_owned()
    })
    .await
    .unwrap()
}

/// moto's models of `service` named `model`.
pub async fn models(endpoint: &str, service: &str, model: &str) -> Vec<Value> {
    let dump = dump_at(endpoint).await.unwrap();
    dump[service][model].as_array().cloned().unwrap_or_default()
}

//! Pausing the stack's own SQS event source mappings while dev polls their
//! queues: otherwise Lambda (or the emulator's imitation of it) would take
//! messages from the same queues and run the deployed code instead of the
//! local one. They are resumed when dev stops; after a SIGKILL, running
//! `archform dev` again and stopping it with Ctrl-C resumes them.

use crate::console;
use crate::error::DevError;
use crate::topology::PollerSpec;
use aws_sdk_lambda::Client;
use aws_sdk_lambda::error::ProvideErrorMetadata;

/// Disables every enabled mapping; returns the UUIDs it disabled.
pub async fn pause(client: &Client, pollers: &[PollerSpec]) -> Result<Vec<String>, DevError> {
    let mut paused = Vec::new();
    for p in pollers.iter().filter(|p| p.enabled) {
        let Some(uuid) = &p.uuid else { continue };
        set_enabled(client, uuid, false)
            .await
            .map_err(|message| DevError::EventSource {
                id: p.id.clone(),
                message,
            })?;
        paused.push(uuid.clone());
    }
    Ok(paused)
}

/// Re-enables what [`pause`] disabled; failures are reported, not fatal,
/// so every mapping gets its chance.
pub async fn resume(client: &Client, uuids: &[String]) {
    for uuid in uuids {
        if let Err(message) = set_enabled(client, uuid, true).await {
            console::warn(
                "dev",
                &format!(
                    "could not resume event source mapping {uuid}: {message}; run `archform dev` again and stop it with Ctrl-C, or `archform deploy`"
                ),
            );
        }
    }
}

async fn set_enabled(client: &Client, uuid: &str, enabled: bool) -> Result<(), String> {
    client
        .update_event_source_mapping()
        .uuid(uuid)
        .enabled(enabled)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| match (e.code(), e.message()) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            (Some(c), None) => c.to_string(),
            _ => format!("{e}"),
        })
}

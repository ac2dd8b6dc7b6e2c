//! The `sendmessage` route's function (per-route layout); other routes are
//! answered with an error.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    if !service_common::in_lambda() {
        return chat::lambda::not_in_lambda("sendmessage");
    }
    match chat::lambda::run(chat::lambda::Route::Message(
        chat::frames::Action::SendMessage,
    ))
    .await
    {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "Lambda runtime failed");
            std::process::ExitCode::FAILURE
        }
    }
}

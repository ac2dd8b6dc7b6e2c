//! An SQS batch consumer: forwards each message body to `OUT_QUEUE_URL`,
//! reports poison messages and failed forwards as batch item failures.

use archform_testfn::sqs_forwarder::Forwarder;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    // One client for the life of the process, as on Lambda: warm
    // invocations reuse its connections.
    let forwarder = Forwarder::from_env().await;
    let forwarder = &forwarder;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, Error>(forwarder.handle(event).await)
    }))
    .await
}

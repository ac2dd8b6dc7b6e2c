//! Counting the DynamoDB calls one frame costs (the `DynamoDbCalls`
//! metric): the DynamoDB stores bump a task-local counter that the service
//! sets up around each frame. Calls made outside such a scope (or in a
//! spawned task) are not counted; the handlers make theirs inline.

use std::cell::Cell;
use std::future::Future;

tokio::task_local! {
    static CALLS: Cell<u64>;
}

/// Runs `work` and returns its output with the number of calls it made.
pub async fn counting<F: Future>(work: F) -> (F::Output, u64) {
    CALLS
        .scope(Cell::new(0), async move {
            let output = work.await;
            (output, CALLS.with(Cell::get))
        })
        .await
}

/// Records one call, if someone is counting.
pub fn record() {
    let _ = CALLS.try_with(|calls| calls.set(calls.get() + 1));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_inside_the_scope_only() {
        record(); // nobody counting: ignored
        let ((), calls) = counting(async {
            record();
            async { record() }.await;
        })
        .await;
        assert_eq!(calls, 2);
    }
}

//! The API scenarios of `tests/support/api_suite.rs` on the in-memory store.

#[macro_use]
mod support;

use std::sync::Arc;

use support::api_suite::Fixture;

async fn memory() -> Fixture {
    Fixture {
        store: Arc::new(webapp::MemoryStore::new()),
        guard: Box::new(()),
    }
}

api_suite!(memory);

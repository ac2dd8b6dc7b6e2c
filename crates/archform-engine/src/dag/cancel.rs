//! A cancellation signal shared by the Ctrl-C handler and the executor.
//! Built on `tokio::sync::watch` rather than pulling in tokio-util for one type.

use std::sync::Arc;
use tokio::sync::watch;

/// Cloneable; every clone sees the same signal. Once cancelled it stays so.
#[derive(Clone, Debug)]
pub struct CancelToken {
    tx: Arc<watch::Sender<bool>>,
}

impl Default for CancelToken {
    fn default() -> Self {
        CancelToken::new()
    }
}

impl CancelToken {
    pub fn new() -> Self {
        CancelToken {
            tx: Arc::new(watch::Sender::new(false)),
        }
    }

    pub fn cancel(&self) {
        self.tx.send_replace(true);
    }

    pub fn is_cancelled(&self) -> bool {
        *self.tx.borrow()
    }

    /// Resolves once [`CancelToken::cancel`] has been called (at once if it was).
    pub async fn cancelled(&self) {
        let mut rx = self.tx.subscribe();
        // The sender lives in `self`, so waiting cannot fail.
        let _ = rx.wait_for(|c| *c).await;
    }
}

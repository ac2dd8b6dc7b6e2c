//! Collects the child's stdout and stderr into one buffer the invoker drains
//! per invocation.

use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::task::JoinHandle;

#[derive(Clone, Default)]
pub struct LogBuffer(Arc<Mutex<String>>);

impl LogBuffer {
    /// Appends every line of `stream` until it closes.
    pub fn collect(&self, stream: impl AsyncRead + Unpin + Send + 'static) -> JoinHandle<()> {
        let buf = self.0.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut b = buf.lock().unwrap_or_else(|e| e.into_inner());
                b.push_str(&line);
                b.push('\n');
            }
        })
    }

    /// Everything collected since the last take.
    pub fn take(&self) -> String {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

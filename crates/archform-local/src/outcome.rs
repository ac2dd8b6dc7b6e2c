//! What one invocation produced.

use serde::Serialize;
use std::time::Duration;

/// An error as the Runtime API reports it (`errorType`, `errorMessage`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FunctionError {
    #[serde(rename = "errorType")]
    pub error_type: String,
    #[serde(rename = "errorMessage")]
    pub message: String,
}

/// How the invocation ended.
#[derive(Clone, Debug, PartialEq)]
pub enum InvokeResult {
    /// The function's response (parsed as JSON when it is JSON, else a string).
    Response(serde_json::Value),
    /// The handler reported an error, crashed, or the deadline passed.
    Error(FunctionError),
    /// The process failed before asking for its first invocation.
    InitError(FunctionError),
}

#[derive(Clone, Debug)]
pub struct InvokeOutcome {
    pub request_id: String,
    pub result: InvokeResult,
    /// The child's stdout and stderr during this invocation (and its init,
    /// for a cold start).
    pub logs: String,
    /// Process start to the first `next` request; `None` on a warm invoke.
    pub init_duration: Option<Duration>,
    /// Invocation handed to the function to its answer (or the timeout).
    pub duration: Duration,
    /// Peak resident memory of the process (VmHWM), where /proc has it.
    pub max_memory_kb: Option<u64>,
    /// True when the deadline passed and the process was killed.
    pub timed_out: bool,
}

impl InvokeOutcome {
    pub fn response(&self) -> Option<&serde_json::Value> {
        match &self.result {
            InvokeResult::Response(v) => Some(v),
            _ => None,
        }
    }

    pub fn error(&self) -> Option<&FunctionError> {
        match &self.result {
            InvokeResult::Error(e) | InvokeResult::InitError(e) => Some(e),
            InvokeResult::Response(_) => None,
        }
    }

    /// Lambda's REPORT line: `REPORT RequestId: .. Duration: .. ms ..`.
    pub fn report_line(&self, memory_mb: u32) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let mut line = format!(
            "REPORT RequestId: {}\tDuration: {:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB",
            self.request_id,
            ms(self.duration),
            (ms(self.duration) + ms(self.init_duration.unwrap_or_default())).ceil() as u64,
            memory_mb
        );
        if let Some(kb) = self.max_memory_kb {
            line.push_str(&format!("\tMax Memory Used: {} MB", kb.div_ceil(1024)));
        }
        if let Some(init) = self.init_duration {
            line.push_str(&format!("\tInit Duration: {:.2} ms", ms(init)));
        }
        if self.timed_out {
            line.push_str("\tStatus: timeout");
        }
        line
    }
}

//! A function running locally: its `bootstrap` process kept warm between
//! invocations like Lambda's execution environment, restarted after a
//! crash or a timeout.

use crate::api::{ApiEvent, Invocation, RuntimeApi};
use crate::config::FunctionConfig;
use crate::error::LocalError;
use crate::logs::LogBuffer;
use crate::outcome::{FunctionError, InvokeOutcome, InvokeResult};
use archform_ids as ids;
use bytes::Bytes;
use std::os::fd::{AsRawFd, RawFd};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use tokio::time::sleep_until;

/// A live execution environment: the process and the API it talks to.
struct Environment {
    child: Child,
    api: RuntimeApi,
    logs: LogBuffer,
    readers: Vec<JoinHandle<()>>,
    /// The child's stdout/stderr pipe fds (owned by the readers), to see
    /// whether log output is still waiting to be read.
    pipes: Vec<RawFd>,
    pid: Option<u32>,
}

pub struct LocalFunction {
    config: FunctionConfig,
    env: Option<Environment>,
}

/// How phase one (waiting for the function to take the invocation) ended.
enum Handover {
    Delivered(Instant),
    Failed(InvokeResult),
}

impl LocalFunction {
    pub fn new(config: FunctionConfig) -> Self {
        LocalFunction { config, env: None }
    }

    pub fn config(&self) -> &FunctionConfig {
        &self.config
    }

    /// True while a process is warm (the next invoke has no init).
    pub fn is_warm(&self) -> bool {
        self.env.is_some()
    }

    /// Runs one invocation, starting the process first when none is warm.
    /// Function failures are outcomes; `Err` means the runtime itself failed.
    pub async fn invoke(
        &mut self,
        event: serde_json::Value,
        timeout: Duration,
    ) -> Result<InvokeOutcome, LocalError> {
        self.invoke_raw(Bytes::from(event.to_string()), timeout)
            .await
    }

    /// [`LocalFunction::invoke`] with the event's raw bytes.
    pub async fn invoke_raw(
        &mut self,
        event: Bytes,
        timeout: Duration,
    ) -> Result<InvokeOutcome, LocalError> {
        let started = Instant::now();
        let cold = self.env.is_none();
        if cold {
            self.env = Some(self.start().await?);
        }
        let request_id = ids::uuid_v4();
        let env = self.env.as_mut().ok_or(LocalError::ApiGone)?;
        env.api
            .invocations
            .send(Invocation {
                request_id: request_id.clone(),
                trace_id: ids::trace_id(),
                event,
                timeout,
            })
            .map_err(|_| LocalError::ApiGone)?;

        let handover = wait_for_handover(env, &request_id, cold, started, &self.config).await?;
        let delivered = match handover {
            Handover::Delivered(at) => at,
            Handover::Failed(result) => {
                let logs = self.stop().await;
                return Ok(InvokeOutcome {
                    request_id,
                    result,
                    logs,
                    init_duration: cold.then(|| started.elapsed()),
                    duration: Duration::ZERO,
                    max_memory_kb: None,
                    timed_out: false,
                });
            }
        };
        let init_duration = cold.then(|| delivered - started);
        let env = self.env.as_mut().ok_or(LocalError::ApiGone)?;
        let (result, ended, timed_out, alive) =
            wait_for_result(env, &request_id, delivered, timeout).await?;
        let duration = ended - delivered;
        let max_memory_kb = if self.config.report_memory {
            env.pid.and_then(peak_memory_kb)
        } else {
            None
        };
        let logs = if alive {
            settle(&env.pipes).await;
            env.logs.take()
        } else {
            self.stop().await
        };
        Ok(InvokeOutcome {
            request_id,
            result,
            logs,
            init_duration,
            duration,
            max_memory_kb,
            timed_out,
        })
    }

    /// Ends the process (if any) the way Lambda shuts an environment down;
    /// the next invoke cold-starts. A process that registered an extension
    /// gets SIGTERM and [`SHUTDOWN_GRACE`] to exit before SIGKILL; any other
    /// is killed at once. Returns the logs not yet handed out (including
    /// what the process wrote while shutting down).
    pub async fn stop(&mut self) -> String {
        let Some(mut env) = self.env.take() else {
            return String::new();
        };
        if env.api.extensions_registered() {
            terminate(&mut env.child).await;
        }
        let _ = env.child.start_kill();
        let _ = env.child.wait().await;
        for r in env.readers.drain(..) {
            let _ = tokio::time::timeout(Duration::from_millis(500), r).await;
        }
        env.logs.take()
    }

    async fn start(&self) -> Result<Environment, LocalError> {
        let api = RuntimeApi::start(&self.config).await?;
        let runtime_api = api.addr.to_string();
        // Absolute: the process runs in the bootstrap's folder (the task root).
        let bootstrap =
            std::path::absolute(&self.config.bootstrap).map_err(|source| LocalError::Spawn {
                path: self.config.bootstrap.clone(),
                source,
            })?;
        let mut cmd = Command::new(&bootstrap);
        cmd.env_clear();
        for k in ["PATH", "HOME", "RUST_BACKTRACE", "RUST_LOG"] {
            if let Ok(v) = std::env::var(k) {
                cmd.env(k, v);
            }
        }
        cmd.envs(self.config.child_env(&runtime_api))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(dir) = bootstrap.parent().filter(|d| !d.as_os_str().is_empty()) {
            cmd.current_dir(dir);
        }
        let mut child = cmd.spawn().map_err(|source| LocalError::Spawn {
            path: self.config.bootstrap.clone(),
            source,
        })?;
        let logs = LogBuffer::default();
        let (mut readers, mut pipes) = (Vec::new(), Vec::new());
        if let Some(out) = child.stdout.take() {
            pipes.push(out.as_raw_fd());
            readers.push(logs.collect(out));
        }
        if let Some(err) = child.stderr.take() {
            pipes.push(err.as_raw_fd());
            readers.push(logs.collect(err));
        }
        Ok(Environment {
            pid: child.id(),
            child,
            api,
            logs,
            readers,
            pipes,
        })
    }
}

/// How long Lambda lets a runtime with a registered internal extension
/// shut down after SIGTERM before it sends SIGKILL (500 ms; it is 300 ms
/// when the extensions are external processes, which local runs have none
/// of).
pub const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// SIGTERM, then up to [`SHUTDOWN_GRACE`] for the process to exit.
async fn terminate(child: &mut Child) {
    // Only a process that is still running (not yet reaped, so its pid is
    // still its own) gets the signal.
    if !matches!(child.try_wait(), Ok(None)) {
        return;
    }
    let Some(pid) = child.id().and_then(|p| libc::pid_t::try_from(p).ok()) else {
        return;
    };
    // SAFETY: kill(2) on the pid of our own child, which try_wait just
    // reported as not exited (and so not reaped).
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, child.wait()).await;
}

/// Phase one: until the function's `next` takes our invocation. A cold
/// process may fail here (init error, exit, init timeout).
async fn wait_for_handover(
    env: &mut Environment,
    request_id: &str,
    cold: bool,
    started: Instant,
    config: &FunctionConfig,
) -> Result<Handover, LocalError> {
    let init_deadline = tokio::time::Instant::from_std(started + config.init_timeout);
    loop {
        tokio::select! {
            ev = env.api.events.recv() => match ev {
                Some(ApiEvent::Delivered { request_id: id, at }) if id == request_id => {
                    return Ok(Handover::Delivered(at));
                }
                Some(ApiEvent::InitError(e)) => return Ok(Handover::Failed(InvokeResult::InitError(e))),
                Some(_) => continue,
                None => return Err(LocalError::ApiGone),
            },
            status = env.child.wait() => {
                // A reported init error arrives before the process exits.
                while let Ok(ev) = env.api.events.try_recv() {
                    if let ApiEvent::InitError(e) = ev {
                        return Ok(Handover::Failed(InvokeResult::InitError(e)));
                    }
                }
                let error = exit_error(request_id, status.ok());
                return Ok(Handover::Failed(if cold {
                    InvokeResult::InitError(error)
                } else {
                    InvokeResult::Error(error)
                }));
            }
            _ = sleep_until(init_deadline) => {
                return Ok(Handover::Failed(InvokeResult::InitError(FunctionError {
                    error_type: "Sandbox.Timedout".into(),
                    message: format!(
                        "RequestId: {request_id} Error: init did not finish within {:.2} seconds",
                        config.init_timeout.as_secs_f64()
                    ),
                })));
            }
        }
    }
}

/// Phase two: until the answer, the process's death or the deadline.
/// Returns the result, when it ended, whether it timed out, and whether the
/// process is still alive (warm) afterwards.
async fn wait_for_result(
    env: &mut Environment,
    request_id: &str,
    delivered: Instant,
    timeout: Duration,
) -> Result<(InvokeResult, Instant, bool, bool), LocalError> {
    let deadline = tokio::time::Instant::from_std(delivered + timeout);
    loop {
        tokio::select! {
            ev = env.api.events.recv() => match ev {
                Some(ApiEvent::Response { request_id: id, body }) if id == request_id => {
                    let value = serde_json::from_slice(&body).unwrap_or_else(|_| {
                        serde_json::Value::String(String::from_utf8_lossy(&body).into_owned())
                    });
                    return Ok((InvokeResult::Response(value), Instant::now(), false, true));
                }
                Some(ApiEvent::Error { request_id: id, error }) if id == request_id => {
                    return Ok((InvokeResult::Error(error), Instant::now(), false, true));
                }
                Some(_) => continue,
                None => return Err(LocalError::ApiGone),
            },
            status = env.child.wait() => {
                let ended = Instant::now();
                // An answer sent just before exiting still counts.
                while let Ok(ev) = env.api.events.try_recv() {
                    match ev {
                        ApiEvent::Error { request_id: id, error } if id == request_id => {
                            return Ok((InvokeResult::Error(error), ended, false, false));
                        }
                        ApiEvent::Response { request_id: id, body } if id == request_id => {
                            let value = serde_json::from_slice(&body)
                                .unwrap_or(serde_json::Value::Null);
                            return Ok((InvokeResult::Response(value), ended, false, false));
                        }
                        _ => {}
                    }
                }
                return Ok((InvokeResult::Error(exit_error(request_id, status.ok())), ended, false, false));
            }
            _ = sleep_until(deadline) => {
                let _ = env.child.start_kill();
                return Ok((
                    InvokeResult::Error(FunctionError {
                        error_type: "Sandbox.Timedout".into(),
                        message: format!(
                            "RequestId: {request_id} Error: Task timed out after {:.2} seconds",
                            timeout.as_secs_f64()
                        ),
                    }),
                    Instant::now(),
                    true,
                    false,
                ));
            }
        }
    }
}

fn exit_error(request_id: &str, status: Option<ExitStatus>) -> FunctionError {
    let how = status.map_or_else(|| "unknown status".to_string(), |s| s.to_string());
    FunctionError {
        error_type: "Runtime.ExitError".into(),
        message: format!("RequestId: {request_id} Error: Runtime exited with error: {how}"),
    }
}

/// Waits (at most 50 ms) until the log pipes hold no unread bytes: the
/// process wrote its log lines before answering, but the reader tasks may
/// not have caught up with the HTTP answer yet. With nothing unread (the
/// common case: most invocations log nothing, or the readers already took
/// it) this is two ioctls and no wait.
async fn settle(pipes: &[RawFd]) {
    let unread = |fd: RawFd| {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes one c_int; the fd is a pipe this process
        // keeps open while the child is alive.
        let rc = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) };
        rc == 0 && n > 0
    };
    if !pipes.iter().any(|&fd| unread(fd)) {
        return;
    }
    let until = Instant::now() + Duration::from_millis(50);
    loop {
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
        if !pipes.iter().any(|&fd| unread(fd)) || Instant::now() > until {
            break;
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    // The reader that emptied the pipe appends its lines when it next runs.
    for _ in 0..4 {
        tokio::task::yield_now().await;
    }
}

/// Peak resident set size (VmHWM) in KiB, from /proc on Linux.
fn peak_memory_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

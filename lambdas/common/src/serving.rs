//! What the standalone servers share: the one stdout line that says where
//! they listen, and the signal that stops them.

use std::io::Write;
use std::net::SocketAddr;

/// Writes the one stdout line, `listening on http://<addr>`, and flushes
/// it: callers read it through a pipe, where stdout is block buffered.
pub fn announce(bound: SocketAddr) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on http://{bound}")?;
    stdout.flush()
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received");
}

/// Listens on `addr` and says where (port 0 picks a free one): the
/// listener and its bound address, or the message for a standalone
/// server's `error:` line (the caller exits with status 1).
pub async fn bind(addr: SocketAddr) -> Result<(tokio::net::TcpListener, SocketAddr), String> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|err| {
        format!("cannot listen on {addr}: {err} (choose another --port or --bind)")
    })?;
    let bound = listener
        .local_addr()
        .map_err(|err| format!("cannot read the bound address: {err}"))?;
    Ok((listener, bound))
}

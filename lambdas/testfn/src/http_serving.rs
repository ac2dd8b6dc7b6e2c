//! Serving one axum router two ways: as a Lambda function when the Lambda
//! runtime started the process, as a plain HTTP server otherwise. Services
//! in lambdas/ follow the same pattern so they can be run and debugged
//! without any Lambda machinery.

use axum::Router;

/// The variable the Lambda service (and archform's local runtime) sets for
/// every function process; its presence is what "running in Lambda" means.
const RUNTIME_API_ENV: &str = "AWS_LAMBDA_RUNTIME_API";

/// The port used when neither `--port` nor `PORT` says otherwise.
pub const DEFAULT_PORT: u16 = 3000;

/// True when the process was started by a Lambda runtime.
pub fn in_lambda() -> bool {
    std::env::var_os(RUNTIME_API_ENV).is_some()
}

/// The standalone port: `--port N` (or `--port=N`) from the arguments, else
/// the `PORT` variable, else [`DEFAULT_PORT`]; 0 asks for an ephemeral port.
pub fn standalone_port(
    args: impl IntoIterator<Item = String>,
    env_port: Option<String>,
) -> Result<u16, String> {
    let mut args = args.into_iter();
    let mut from_args = None;
    while let Some(arg) = args.next() {
        if arg == "--port" {
            from_args = Some(args.next().ok_or("--port needs a value")?);
        } else if let Some(value) = arg.strip_prefix("--port=") {
            from_args = Some(value.to_owned());
        }
    }
    match from_args.or(env_port) {
        Some(text) => text
            .trim()
            .parse()
            .map_err(|_| format!("not a port number: {text:?}")),
        None => Ok(DEFAULT_PORT),
    }
}

/// Binds 127.0.0.1:`port`, prints `listening on http://127.0.0.1:<port>`
/// (the port actually bound, so callers asking for 0 learn theirs) as the
/// only stdout line, then serves until the process is killed.
pub async fn serve_standalone(router: Router, port: u16) -> std::io::Result<()> {
    use std::io::Write;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let bound = listener.local_addr()?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on http://{bound}")?;
    // Callers wait for this line through a pipe, where stdout is block
    // buffered: without the flush they would wait forever.
    stdout.flush()?;
    drop(stdout);
    axum::serve(listener, router).await
}

/// Runs `router` as a Lambda function (ALB and function URL events through
/// `lambda_http`) inside Lambda, or as a standalone server otherwise.
pub async fn run(router: Router) -> Result<(), lambda_runtime::Error> {
    if in_lambda() {
        return lambda_http::run(router).await;
    }
    let port = standalone_port(std::env::args().skip(1), std::env::var("PORT").ok())?;
    serve_standalone(router, port).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn port_comes_from_args_then_env_then_default() {
        assert_eq!(standalone_port(args(&["--port", "0"]), None), Ok(0));
        assert_eq!(standalone_port(args(&["--port=8080"]), None), Ok(8080));
        assert_eq!(
            standalone_port(args(&["--port", "81"]), Some("82".into())),
            Ok(81)
        );
        assert_eq!(standalone_port(args(&[]), Some("82".into())), Ok(82));
        assert_eq!(standalone_port(args(&[]), None), Ok(DEFAULT_PORT));
    }

    #[test]
    fn bad_ports_are_errors() {
        assert!(standalone_port(args(&["--port"]), None).is_err());
        assert!(standalone_port(args(&["--port", "x"]), None).is_err());
        assert!(standalone_port(args(&[]), Some("70000".into())).is_err());
    }
}

//! Shared by the integration tests: the API scenarios every store must
//! pass, a real PostgreSQL server, and a proxy that makes the emulator
//! take one request at a time.
#![allow(dead_code)]

#[macro_use]
pub mod api_suite;
pub mod one_at_a_time;
pub mod pg;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// `webapp serve-app ARGS --port 0` (the store and its settings in `args`
/// and `envs`, stdout and stderr piped), once it says where it listens:
/// the child and its `http://ADDR`. Its stderr is in the panic when it
/// printed something else.
pub fn serve_app(args: &[&str], envs: &[(&str, &str)], unset: &[&str]) -> (Child, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_webapp"));
    command
        .arg("serve-app")
        .args(args)
        .args(["--port", "0"])
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for name in unset {
        command.env_remove(name);
    }
    let mut child = command.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let Some(base) = line.trim().strip_prefix("listening on ").map(str::to_owned) else {
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        panic!(
            "serve-app printed {line:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    };
    (child, base)
}

/// Creates the product `BIN-1` through the API at `base`; the status.
pub async fn post_bin_product(base: &str) -> http::StatusCode {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let request = http::Request::builder()
        .method(http::Method::POST)
        .uri(format!("{base}/api/products"))
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from(
            serde_json::json!({"sku": "BIN-1", "name": "From the binary", "price_cents": 5, "stock": 2})
                .to_string(),
        )))
        .unwrap();
    client.request(request).await.unwrap().status()
}

//! The child processes the benchmarks start: workspace binaries beside the
//! running example (built first if missing), killed when dropped, and the
//! `listening on http://ADDR` line they print first; and the benchmarks'
//! `--baseline-server` children: a server answering every request the same
//! way, ended when the benchmark closes its stdin.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command};

/// target/debug (or the CARGO_TARGET_DIR's), from this example's path.
pub fn target_debug() -> PathBuf {
    std::env::current_exe()
        .expect("own path")
        .parent()
        .and_then(|examples| examples.parent())
        .expect("target directory")
        .to_path_buf()
}

/// A binary of the workspace beside this example, built first if missing.
pub fn binary(package: &str, bin: &str) -> PathBuf {
    let path = target_debug().join(bin);
    if !path.exists() {
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "-p", package, "--bin", bin])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo");
        assert!(status.success(), "building {bin} failed");
    }
    path
}

/// A child process killed (and reaped) when dropped.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The child's first stdout line, without its line break.
pub fn first_line(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("first line");
    line.trim_end().to_string()
}

/// The URL of the child's `listening on http://ADDR` first line.
pub fn listening_url(child: &mut Child, what: &str) -> String {
    let line = first_line(child);
    line.strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{what}: unexpected first line {line:?}"))
        .to_string()
}

/// For a `--baseline-server` child: exits the process when its stdin
/// closes, i.e. when the benchmark that started it ends.
pub fn exit_when_stdin_closes() {
    std::thread::spawn(|| {
        let mut buf = [0u8; 64];
        while matches!(std::io::stdin().read(&mut buf), Ok(n) if n > 0) {}
        std::process::exit(0);
    });
}

/// `--baseline-server`: every request's body read, then the same answer
/// (`status`, `headers`, `body`), nothing else: the physical limit of this
/// machine for the benchmark's load. A separate process, like the service it
/// is compared with, on the same runtime configuration as its
/// `#[tokio::main]` (multi-thread, one worker per core), so neither side
/// shares the load generator's runtime. Prints `listening on http://ADDR`;
/// exits when its stdin closes, i.e. when the benchmark does.
pub fn serve_fixed_answer(
    status: hyper::StatusCode,
    headers: &'static [(&'static str, &'static str)],
    body: &'static [u8],
) {
    use http_body_util::{BodyExt, Full};
    use std::io::Write;
    exit_when_stdin_closes();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        {
            let mut stdout = std::io::stdout().lock();
            writeln!(
                stdout,
                "listening on http://{}",
                listener.local_addr().unwrap()
            )
            .unwrap();
            stdout.flush().unwrap();
        }
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| async move {
                        let _ = req.into_body().collect().await;
                        let mut answer = hyper::Response::builder().status(status);
                        for (name, value) in headers {
                            answer = answer.header(*name, *value);
                        }
                        Ok::<_, std::convert::Infallible>(
                            answer
                                .body(Full::new(bytes::Bytes::from_static(body)))
                                .unwrap(),
                        )
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

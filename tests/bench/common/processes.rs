//! The child processes the benchmarks start: workspace binaries beside the
//! running example (built first if missing), killed when dropped, and the
//! `listening on http://ADDR` line they print first; and the end of a
//! `--baseline-server` child when the benchmark closes its stdin.

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

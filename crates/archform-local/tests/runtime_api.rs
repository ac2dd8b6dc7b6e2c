//! Runtime API conformance: the real `lambda_runtime` crate (the testfn
//! binaries in lambdas/testfn) against archform's local runtime.

use archform_local::{FunctionConfig, InvokeResult, LocalFunction};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Once;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// target/debug/<bin>, next to this test's deps/ folder; built once with
/// `cargo build -p archform-testfn` when missing.
fn testfn(bin: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir")
        .to_path_buf();
    let path = dir.join(bin);
    static BUILD: Once = Once::new();
    if !path.exists() {
        BUILD.call_once(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = std::process::Command::new(cargo)
                .args(["build", "-p", "archform-testfn"])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .expect("running cargo build -p archform-testfn");
            assert!(status.success(), "cargo build -p archform-testfn failed");
        });
    }
    assert!(path.exists(), "{} was not built", path.display());
    path
}

fn function(bin: &str) -> LocalFunction {
    let mut config = FunctionConfig::new(testfn(bin), format!("conformance-{bin}"));
    config.environment.push(("GREETING".into(), "hello".into()));
    LocalFunction::new(config)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[tokio::test]
async fn success_honours_request_id_deadline_and_arn() {
    let mut f = function("testfn-echo");
    let before = now_ms();
    let out = f
        .invoke(json!({"hello": "world", "n": 1}), Duration::from_secs(5))
        .await
        .unwrap();
    let r = out
        .response()
        .unwrap_or_else(|| panic!("not a response: {out:?}"));
    assert_eq!(r["echo"], json!({"hello": "world", "n": 1}));
    assert_eq!(r["request_id"], json!(out.request_id));
    assert_eq!(
        r["function_arn"],
        json!(f.config().arn),
        "Lambda-Runtime-Invoked-Function-Arn"
    );
    assert!(r["trace_id"].as_str().unwrap().starts_with("Root=1-"));
    let deadline = r["deadline_ms"].as_u64().unwrap();
    assert!(
        deadline >= before + 5000 && deadline <= now_ms() + 5000,
        "deadline {deadline} is not now + 5 s"
    );
    assert_eq!(r["function_name"], json!("conformance-testfn-echo"));
    assert_eq!(r["env_greeting"], json!("hello"), "function environment");
    assert!(
        out.logs.contains("testfn-echo: handling request"),
        "{}",
        out.logs
    );
    assert!(out.init_duration.is_some(), "first invoke is a cold start");
    let report = out.report_line(128);
    assert!(report.starts_with(&format!("REPORT RequestId: {}", out.request_id)));
    assert!(report.contains("Init Duration: "), "{report}");
}

#[tokio::test]
async fn warm_reuse_has_no_init() {
    let mut f = function("testfn-echo");
    let first = f.invoke(json!(1), Duration::from_secs(5)).await.unwrap();
    assert!(first.init_duration.is_some());
    assert!(f.is_warm());
    let second = f.invoke(json!(2), Duration::from_secs(5)).await.unwrap();
    assert_eq!(second.response().unwrap()["echo"], json!(2));
    assert_eq!(second.init_duration, None, "warm invoke has no init");
    assert_ne!(first.request_id, second.request_id);
    assert!(!second.report_line(128).contains("Init Duration"));
    assert!(
        second.logs.contains(&second.request_id) && !second.logs.contains(&first.request_id),
        "logs are per invocation: {}",
        second.logs
    );
}

#[tokio::test]
async fn handler_error_is_reported_and_process_stays_warm() {
    let mut f = function("testfn-error");
    let out = f.invoke(json!({}), Duration::from_secs(5)).await.unwrap();
    let InvokeResult::Error(e) = &out.result else {
        panic!("expected an error: {out:?}")
    };
    assert!(e.message.contains("failed on purpose"), "{e:?}");
    assert!(out.logs.contains("testfn-error: failing request"));
    assert!(f.is_warm());
    let again = f.invoke(json!({}), Duration::from_secs(5)).await.unwrap();
    assert!(matches!(again.result, InvokeResult::Error(_)));
    assert_eq!(again.init_duration, None);
}

#[tokio::test]
async fn panic_is_an_error_and_the_next_invoke_works() {
    let mut f = function("testfn-panic");
    let out = f.invoke(json!({}), Duration::from_secs(5)).await.unwrap();
    let InvokeResult::Error(e) = &out.result else {
        panic!("expected an error: {out:?}")
    };
    assert!(
        e.message.contains("panicking on purpose") || e.error_type == "Runtime.ExitError",
        "{e:?}"
    );
    // Whether the runtime caught the panic or the process died, the next
    // invocation is answered (by a restarted process if need be).
    let again = f.invoke(json!({}), Duration::from_secs(5)).await.unwrap();
    assert!(matches!(again.result, InvokeResult::Error(_)), "{again:?}");
}

#[tokio::test]
async fn init_failure_is_an_init_error() {
    let mut f = function("testfn-init-fail");
    let out = f.invoke(json!({}), Duration::from_secs(5)).await.unwrap();
    let InvokeResult::InitError(e) = &out.result else {
        panic!("expected an init error: {out:?}")
    };
    assert_eq!(e.error_type, "Runtime.InitError");
    assert_eq!(e.message, "configuration missing");
    assert!(
        out.logs.contains("configuration missing, giving up"),
        "{}",
        out.logs
    );
    assert!(!f.is_warm());
    // Every invoke retries the init, like Lambda.
    let again = f.invoke(json!({}), Duration::from_secs(5)).await.unwrap();
    assert!(matches!(again.result, InvokeResult::InitError(_)));
}

#[tokio::test]
async fn missing_binary_is_a_runtime_error() {
    let mut f = LocalFunction::new(FunctionConfig::new("/nonexistent/bootstrap", "missing"));
    let err = f
        .invoke(json!({}), Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/bootstrap"), "{err}");
}

#[tokio::test]
async fn deadline_exceeded_kills_and_cold_starts_again() {
    let mut f = function("testfn-sleep");
    let ok = f
        .invoke(json!({"ms": 10}), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(ok.response().unwrap()["slept_ms"], json!(10));

    let out = f
        .invoke(json!({"ms": 5000}), Duration::from_millis(300))
        .await
        .unwrap();
    assert!(out.timed_out);
    let InvokeResult::Error(e) = &out.result else {
        panic!("expected a timeout: {out:?}")
    };
    assert!(
        e.message.contains("Task timed out after 0.30 seconds"),
        "{e:?}"
    );
    assert!(out.duration >= Duration::from_millis(300) && out.duration < Duration::from_secs(3));
    assert!(out.logs.contains("sleeping 5000 ms"), "{}", out.logs);
    assert!(out.report_line(128).contains("Status: timeout"));
    assert!(!f.is_warm(), "the timed-out process is killed");

    let after = f
        .invoke(json!({"ms": 1}), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(after.response().unwrap()["slept_ms"], json!(1));
    assert!(
        after.init_duration.is_some(),
        "a new process after the timeout"
    );
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("archform-local-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[tokio::test]
async fn a_zipped_bootstrap_is_extracted_and_runs() {
    let dir = scratch("bundle");
    let bin = std::fs::read(testfn("testfn-echo")).unwrap();
    let zip = archform_package::zip::build(&[
        ("bootstrap", &bin, 0o755),
        ("config/settings.json", b"{\"a\":1}", 0o644),
    ]);
    std::fs::write(dir.join("fn.zip"), zip).unwrap();
    let bootstrap = archform_local::bundle::extract(&dir.join("fn.zip"), &dir.join("x")).unwrap();
    assert_eq!(bootstrap, dir.join("x/bootstrap"));
    assert_eq!(
        std::fs::read(dir.join("x/config/settings.json")).unwrap(),
        b"{\"a\":1}"
    );
    let mut f = LocalFunction::new(FunctionConfig::new(bootstrap, "bundled"));
    let out = f
        .invoke(json!("zipped"), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(out.response().unwrap()["echo"], json!("zipped"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bundle_refuses_unknown_compression_and_zips_without_bootstrap() {
    let dir = scratch("bundle-bad");
    let no_bootstrap = archform_package::zip::build(&[("main", b"x", 0o755)]);
    std::fs::write(dir.join("a.zip"), no_bootstrap).unwrap();
    let err = archform_local::bundle::extract(&dir.join("a.zip"), &dir.join("a")).unwrap_err();
    assert!(err.to_string().contains("no `bootstrap`"), "{err}");

    // Mark the entry bzip2-compressed (method 12) in the central directory.
    let mut deflated = archform_package::zip::build(&[("bootstrap", b"x", 0o755)]);
    let central = deflated
        .windows(4)
        .position(|w| w == 0x0201_4b50u32.to_le_bytes())
        .unwrap();
    deflated[central + 10] = 12;
    std::fs::write(dir.join("b.zip"), deflated).unwrap();
    let err = archform_local::bundle::extract(&dir.join("b.zip"), &dir.join("b")).unwrap_err();
    assert!(err.to_string().contains("compression method 12"), "{err}");

    std::fs::write(dir.join("c.zip"), b"not a zip at all, just some bytes here").unwrap();
    let err = archform_local::bundle::extract(&dir.join("c.zip"), &dir.join("c")).unwrap_err();
    assert!(err.to_string().contains("not a zip"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_process_exiting_mid_invocation_is_an_exit_error_and_restarts() {
    let mut f = function("testfn-sleep");
    let out = f
        .invoke(json!({"ms": 1, "exit": 3}), Duration::from_secs(5))
        .await
        .unwrap();
    let InvokeResult::Error(e) = &out.result else {
        panic!("expected an exit error: {out:?}")
    };
    assert_eq!(e.error_type, "Runtime.ExitError");
    assert!(e.message.contains("exit status: 3"), "{e:?}");
    assert!(out.logs.contains("exiting with 3"), "{}", out.logs);
    assert!(!f.is_warm());
    let after = f
        .invoke(json!({"ms": 1}), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(after.response().unwrap()["slept_ms"], json!(1));
    assert!(after.init_duration.is_some());
}

//! Fails before the runtime loop starts: reports an init error to the
//! Runtime API and exits non-zero, as a function whose set-up fails does.

fn main() {
    eprintln!("testfn-init-fail: configuration missing, giving up");
    archform_testfn::report_init_error("Runtime.InitError", "configuration missing");
    std::process::exit(1);
}

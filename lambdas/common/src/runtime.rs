//! Lambda or standalone: every service binary asks the same question.

/// The variable the Lambda service (and archform's local runtime) sets for
/// every function process; its presence is what "running in Lambda" means.
pub const RUNTIME_API_ENV: &str = "AWS_LAMBDA_RUNTIME_API";

/// Exit status of a process stopped by a configuration error (a missing or
/// invalid setting), standalone and on Lambda alike.
pub const CONFIG_ERROR_EXIT: u8 = 2;

/// True when the process was started by a Lambda runtime.
pub fn in_lambda() -> bool {
    std::env::var_os(RUNTIME_API_ENV).is_some()
}

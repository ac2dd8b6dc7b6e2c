//! Errors of `archform dev` itself; a function's own failures are answered
//! to the caller the way the AWS service in front of it would (502, an error
//! frame, a message left for redrive), not raised.

#[derive(Debug, thiserror::Error)]
pub enum DevError {
    /// The stack's state cannot be run locally as it is.
    #[error("{0}")]
    Stack(String),
    #[error("binding {what} on {addr}: {source} (choose another port with --port)")]
    Bind {
        what: String,
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("unpacking the code of function `{function}`: {source}")]
    Bundle {
        function: String,
        source: archform_local::bundle::BundleError,
    },
    #[error("function `{function}`: {source}")]
    Runtime {
        function: String,
        source: archform_local::LocalError,
    },
    #[error(
        "pausing the stack's event source mapping `{id}` (so only dev consumes its queue): {message}"
    )]
    EventSource { id: String, message: String },
    #[error("SQS {operation} on {queue}: {message}")]
    Sqs {
        operation: &'static str,
        queue: String,
        message: String,
    },
    #[error(
        "archform dev serves the stack's PostgreSQL instances from a local server, but {what} is missing: \
         install Debian's `postgresql` and `openssl` packages (scripts/install-postgres does)"
    )]
    PostgresMissing { what: &'static str },
    #[error("the local PostgreSQL in {}: {message}", cluster.display())]
    Postgres {
        cluster: std::path::PathBuf,
        message: String,
    },
    #[error("writing the local database's credentials to the secret {arn}: {message}")]
    Secret { arn: String, message: String },
}

#[cfg(test)]
mod tests {
    #[test]
    fn missing_postgres_names_the_package_and_the_script() {
        let message = super::DevError::PostgresMissing { what: "initdb" }.to_string();
        assert!(message.contains("`postgresql`"), "{message}");
        assert!(
            message.contains(crate::postgres::INSTALL_SCRIPT),
            "{message}"
        );
    }
}

//! The local AWS emulators (moto, LocalStack) that `archform emulator
//! start|stop|status|endpoint` and `--local` run, and that tests start
//! through archform-testkit.
//!
//! - [`ensure_venv`]: pinned Python environments for moto, LocalStack,
//!   cfn-lint and cargo-lambda, built on first use under the cache dir.
//! - [`OwnedEmulator`]: an emulator child that dies with its owner.
//! - [`daemon`]: a detached emulator that outlives the command that started it.
//! - [`endpoint_kind`]: which emulator answers at an endpoint.
//!
//! Only Linux is supported: process ownership relies on `PR_SET_PDEATHSIG`
//! and liveness checks read `/proc`.

mod cache_dir;
pub mod daemon;
mod emulator;
mod error;
mod http_probe;
mod log_tail;
mod owned;
mod process;
mod python_venv;

pub use cache_dir::cache_root;
pub use emulator::{EmulatorKind, endpoint_kind};
pub use error::{Error, Result};
pub use owned::OwnedEmulator;
pub use process::proc_stat_fields;
pub use python_venv::{PythonTool, ensure_venv};

//! Local AWS emulators for archform's tests and for `archform emulator`.
//!
//! - [`ensure_venv`]: pinned Python environments for moto, LocalStack and
//!   cfn-lint, built on first use under the cache dir.
//! - [`OwnedEmulator`]: an emulator child that dies with its owner.
//! - [`daemon`]: a detached emulator that outlives the command that started it.
//! - [`test_endpoint`], [`sdk_config`], [`endpoint_kind`]: what tests use.
//!
//! Only Linux is supported: process ownership relies on `PR_SET_PDEATHSIG`
//! and liveness checks read `/proc`.

pub mod browser;
mod cache_dir;
pub mod cpu;
pub mod daemon;
mod emulator;
mod error;
mod fault_proxy;
mod fixture;
mod http_probe;
mod log_tail;
mod owned;
mod process;
mod python_venv;
pub mod zip;

pub use cache_dir::cache_root;
pub use emulator::EmulatorKind;
pub use error::{Error, Result};
pub use fault_proxy::{FaultConfig, FaultProxy, ProxyStats, is_mutation};
pub use fixture::{
    TEST_EMULATOR_ENV, TEST_ENDPOINT_ENV, endpoint_kind, sdk_config, test_endpoint,
    try_test_endpoint,
};
pub use owned::OwnedEmulator;
pub use python_venv::{PythonTool, ensure_venv};

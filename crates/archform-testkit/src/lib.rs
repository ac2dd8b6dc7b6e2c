//! What archform's tests use around the AWS emulators; never a normal
//! dependency (the `archform` binary carries none of it).
//!
//! - [`test_endpoint`], [`sdk_config`], [`endpoint_kind`]: an emulator
//!   endpoint for a test process and an SDK config for it.
//! - [`FaultProxy`]: injects throttling, errors and delays between the SDK
//!   and the emulator.
//! - [`browser`]: drives headless Chromium; [`cpu`]: CPU time of processes.
//! - [`zip`]: placeholder function packages.
//! - [`skip::skipped`]: the one way a test skips, recorded for tests/run.
//!
//! Emulator installation and processes live in archform-emulator; the
//! names tests use from it are re-exported here.

pub mod browser;
pub mod cpu;
mod fault_proxy;
mod fixture;
pub mod skip;
pub mod zip;

pub use archform_emulator::{
    EmulatorKind, Error, OwnedEmulator, PythonTool, Result, cache_root, daemon, endpoint_kind,
    ensure_venv,
};
pub use fault_proxy::{
    Answer, Call, FaultConfig, FaultProxy, Held, HeldCall, Hold, HoldPoint, ProxyStats, Rule,
    is_mutation,
};
pub use fixture::{
    TEST_EMULATOR_ENV, TEST_ENDPOINT_ENV, sdk_config, test_endpoint, try_test_endpoint,
};

//! `archform emulator`: the code lives in emulator_cmd.rs, owned with the testkit.
pub use crate::emulator_cmd::{EmulatorArgs, run};

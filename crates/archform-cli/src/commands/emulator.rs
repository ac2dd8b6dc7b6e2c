//! `archform emulator`: the code lives in emulator_cmd.rs, over archform-emulator.
pub use crate::emulator_cmd::{EmulatorArgs, run};

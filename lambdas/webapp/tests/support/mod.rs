//! Shared by the integration tests: the API scenarios every store must
//! pass, a real PostgreSQL server, and a proxy that makes the emulator
//! take one request at a time.
#![allow(dead_code)]

#[macro_use]
pub mod api_suite;
pub mod one_at_a_time;
pub mod pg;

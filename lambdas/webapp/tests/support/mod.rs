//! Shared by the integration tests: the API scenarios every store must
//! pass, and a real PostgreSQL server.
#![allow(dead_code)]

#[macro_use]
pub mod api_suite;
pub mod pg;

//! Shared by the notify package's integration tests.

#![allow(dead_code)]

pub mod http;
pub mod moto;
pub mod tables;

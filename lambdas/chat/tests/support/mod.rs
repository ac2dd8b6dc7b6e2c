//! Shared by the chat package's integration tests (and tests/chat_e2e.rs,
//! which includes `scenario.rs` by path).

#![allow(dead_code)]

pub mod pages;
pub mod scenario;
pub mod tables;

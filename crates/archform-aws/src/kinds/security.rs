//! Providers of the security kinds.

mod iam_role;
mod secret;

use super::Handler;

pub(super) static IAM_ROLE: Handler = provider!(iam_role);
pub(super) static SECRET: Handler = provider!(secret);

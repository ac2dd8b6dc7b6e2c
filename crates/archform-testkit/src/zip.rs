//! The reproducible zip writer now lives in `archform-package`; this module
//! keeps `archform_testkit::zip` working for tests.

pub use archform_package::zip::{build, placeholder_function};

//! The three-tier web application of `blueprints/three-tier.yaml`: an
//! orders-and-inventory app. Products have stock; an order reserves stock
//! for all its lines at once or not at all; product updates are guarded by
//! versions (ETag / If-Match).
//!
//! - [`model`], [`ids`], [`validate`]: the records and the checks of
//!   everything a client sends.

pub mod ids;
pub mod model;
pub mod validate;

pub use model::{Order, OrderStatus, Product};

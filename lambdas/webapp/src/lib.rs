//! The three-tier web application of `blueprints/three-tier.yaml`: an
//! orders-and-inventory app. Products have stock; an order reserves stock
//! for all its lines at once or not at all; product updates are guarded by
//! versions (ETag / If-Match).
//!
//! - [`model`], [`ids`], [`validate`]: the records and the checks of
//!   everything a client sends;
//! - [`store`]: the [`DataStore`] trait of the data tier (written so that
//!   PostgreSQL and DynamoDB can keep its promises), and [`memory`], its
//!   in-process implementation, [`postgres`], the PostgreSQL one, and
//!   [`dynamodb`], the DynamoDB one;
//! - [`app_api`]: the app tier, the JSON API over the store (errors from
//!   [`api_error`], versions as ETags from [`etag`], page cursors from
//!   [`cursor`]);
//! - [`web`]: the web tier, HTML pages and forms ([`pages`], [`html`]) with
//!   CSRF protection ([`csrf`]), calling the app tier over HTTP through
//!   [`app_client`];
//! - [`cli`]: the `webapp` command (`serve-app`, `serve-web`, `serve`);
//! - [`lambda`]: the `app` and `web` functions on Lambda.

pub mod api_error;
pub mod app_api;
pub mod app_client;
pub mod cli;
pub mod csrf;
pub mod cursor;
pub mod dynamodb;
pub mod etag;
pub mod html;
pub mod ids;
pub mod lambda;
pub mod memory;
pub mod model;
pub mod pages;
pub mod postgres;
pub mod store;
pub mod validate;
pub mod web;

pub use app_api::AppState;
pub use dynamodb::DynamoStore;
pub use memory::MemoryStore;
pub use model::{Order, OrderStatus, Product};
pub use postgres::PostgresStore;
pub use store::{DataStore, StoreError};
pub use web::WebState;

#[cfg(test)]
mod app_api_tests;
#[cfg(test)]
mod web_tests;

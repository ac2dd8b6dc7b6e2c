//! The service as an axum router: state, routes and middleware.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use crate::api_error::request_id_layer;
use crate::cache::{CacheStats, LinkCache};
use crate::clicks::{ClickSender, ClickStatsSnapshot};
use crate::config::ServiceOptions;
use crate::handlers;
use crate::metrics::{MetricsReporter, MetricsSink};
use crate::rate_limit::RateLimiter;
use crate::store::{ClickCounter, LinkStore, RateCounter};

/// Largest request body read; a 2048-character URL fits many times over.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The storage the router works against.
#[derive(Clone)]
pub struct Stores {
    pub links: Arc<dyn LinkStore>,
    /// Rate windows; on AWS the links table, like `links`.
    pub rate: Arc<dyn RateCounter>,
    pub clicks: Arc<dyn ClickCounter>,
}

pub(crate) struct Shared {
    pub options: ServiceOptions,
    pub links: Arc<dyn LinkStore>,
    pub clicks: Arc<dyn ClickCounter>,
    pub limiter: RateLimiter,
    pub click_sender: ClickSender,
    pub cache: LinkCache,
    pub metrics: MetricsReporter,
}

/// Shared state of the router; cheap to clone.
#[derive(Clone)]
pub struct AppState(pub(crate) Arc<Shared>);

impl AppState {
    /// Click events go to `click_sender` (see [`crate::clicks::ClickBatcher`]);
    /// cache metrics are written to `metrics`.
    pub fn new(
        options: ServiceOptions,
        stores: Stores,
        click_sender: ClickSender,
        metrics: MetricsSink,
    ) -> Self {
        Self(Arc::new(Shared {
            cache: LinkCache::new(options.cache_ttl, options.cache_max_entries),
            limiter: RateLimiter::new(stores.rate, options.create_rate_per_minute),
            metrics: MetricsReporter::new(metrics, "shortener", Instant::now()),
            links: stores.links,
            clicks: stores.clicks,
            click_sender,
            options,
        }))
    }

    pub fn options(&self) -> &ServiceOptions {
        &self.0.options
    }

    pub fn cache_stats(&self) -> CacheStats {
        self.0.cache.stats()
    }

    pub fn click_stats(&self) -> ClickStatsSnapshot {
        self.0.click_sender.stats()
    }
}

/// The whole service. Serve it with `axum::serve` (use
/// `into_make_service_with_connect_info::<SocketAddr>()` so the rate limiter
/// sees client addresses), `lambda_http::run`, or merge it into another
/// router: its `/{code}` route only catches paths no other route claims.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(handlers::index))
        .route("/index.html", get(handlers::index))
        .route("/health", get(handlers::health))
        .route("/favicon.ico", get(handlers::favicon))
        .route("/robots.txt", get(handlers::robots))
        .route(
            "/api/links",
            post(handlers::create_link).fallback(handlers::api_method_not_allowed),
        )
        .route("/api/links/{code}", get(handlers::link_info))
        .route("/{code}", get(handlers::redirect))
        .fallback(handlers::fallback)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(request_id_layer))
        .with_state(state)
}

//! SageMaker-compatible inference container for ONNX image classifiers.
//!
//! `GET /ping` answers 200 once the model is loaded and warmed up; `POST /invocations` takes an
//! image (raw bytes or base64 JSON) and answers the top-k classes with timings. See the README
//! for the full contract.

pub mod config;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod imaging;
mod invocation;
pub mod loader;
pub mod model;
pub mod runtime_api;
mod state;

use axum::Router;
use axum::http::Uri;
use axum::routing::{get, post};

pub use config::Config;
pub use error::ApiError;
pub(crate) use invocation::observed_invocation;
pub use state::{AppState, Limits};

/// The HTTP API: `/ping` and `/invocations` (plus the SageMaker Runtime stand-in when enabled),
/// JSON errors for everything else.
pub fn app(state: AppState) -> Router {
    let mut router = Router::new().route("/ping", get(invocation::ping)).route(
        "/invocations",
        post(invocation::invocation).layer(invocation::observe(&state)),
    );
    if state.runtime_api_endpoint().is_some() {
        router = router.route(
            "/endpoints/{name}/invocations",
            post(runtime_api::invoke_endpoint),
        );
    }
    router
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .with_state(state)
}

async fn not_found(uri: Uri) -> ApiError {
    let path = uri.path();
    tracing::info!(path, "no route");
    ApiError::NotFound(path.to_owned())
}

//! The contract of `POST /predict` (proxy) and `POST /invocations` (model server), in one
//! place so that the two services cannot drift apart:
//! - [`content`]: which `Content-Type`s are accepted and how the body is read; the image
//!   formats recognised by their magic bytes;
//! - [`request`]: the JSON body, base64 and data URLs, `top_k` and where it may come from;
//! - [`body`]: reading a body whole within a size limit and a deadline;
//! - [`error`]: the refusals both services share and the error body
//!   `{"error":{"code":"...","message":"..."}}`;
//! - [`response`]: the answers, typed, for the server that writes them and the client that
//!   reads them.
//!
//! Where the services differ, the difference is decided here: `top_k` comes from the query
//! string at the proxy and from SageMaker's custom attributes at the model server, and only
//! the proxy's error bodies carry a `request_id` (the model server's go back through
//! SageMaker, which has its own).

pub mod body;
pub mod content;
pub mod error;
pub mod request;
pub mod response;

pub use error::{ErrorBody, ErrorDetail, RequestError};

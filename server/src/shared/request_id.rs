//! The id each request carries: set by the edge for the whole of a request, read by the doors' error bodies.

tokio::task_local! {
    /// The id of the request this task is answering; the edge scopes every request in it.
    pub static REQUEST_ID: String;
}

/// The header that carries a request's id, both ways.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The id of the request being answered, for error bodies; `None` outside a request.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

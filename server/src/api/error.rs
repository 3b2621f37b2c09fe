//! The one error type of the API and its one JSON shape.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use propbot_engine::output::{Refusal, RefusalCode};
use serde_json::{Value, json};

/// An API error: a status, a stable code, a message and optional details.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code (`bad_request`, `unauthorized`, `same_actor`, …).
    pub code: &'static str,
    /// What was wrong and what to do.
    pub message: String,
    /// Per-item details (e.g. every config error with its path).
    pub details: Value,
}

impl ApiError {
    /// An error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Value::Null,
        }
    }

    /// With details.
    pub fn with_details(mut self, details: Value) -> ApiError {
        self.details = details;
        self
    }

    /// 400: malformed request.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 422: a value out of range or not acceptable.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", message)
    }

    /// 401.
    pub fn unauthorized(message: &str) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403.
    pub fn forbidden(message: &str) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 503: the engine did not answer.
    pub fn unavailable(message: &str) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// 500 for a server-side fault (journal read failed).
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// An engine refusal, mapped to a status (README v0.1.2: a bad approval token is
    /// 401; the same actor confirming is 403; state conflicts are 409).
    pub fn refusal(r: Refusal) -> ApiError {
        let (status, code) = match r.code {
            RefusalCode::BadToken => (StatusCode::UNAUTHORIZED, "bad_token"),
            RefusalCode::SameActor => (StatusCode::FORBIDDEN, "same_actor"),
            RefusalCode::NotAllowed => (StatusCode::FORBIDDEN, "not_allowed"),
            RefusalCode::NoSuchRequest => (StatusCode::NOT_FOUND, "no_such_request"),
            RefusalCode::NotApproved => (StatusCode::CONFLICT, "not_approved"),
            RefusalCode::Blocked => (StatusCode::CONFLICT, "blocked"),
            RefusalCode::NoChange => (StatusCode::CONFLICT, "no_change"),
            RefusalCode::TooManyPending => (StatusCode::TOO_MANY_REQUESTS, "too_many_pending"),
            RefusalCode::InvalidConfig => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_config"),
        };
        ApiError::new(status, code, r.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({"code": self.code, "message": self.message});
        if !self.details.is_null() {
            error["details"] = self.details;
        }
        let mut response = (self.status, axum::Json(json!({ "error": error }))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

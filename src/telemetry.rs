//! Logging: `RUST_LOG` picks what is logged (default `info`), `LOG_FORMAT` how.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::settings::LogFormat;
use crate::state::AppState;

pub fn init<W>(format: LogFormat, writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    // A second call (tests start many apps in one process) keeps the first subscriber.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
    };
}

/// The span of each request: tracing-actix-web's fields, with secrets in the query string (the
/// one-time set-password token) redacted so they never reach a log line.
pub struct RedactingRootSpan;

const SECRET_QUERY_KEYS: [&str; 1] = ["token"];

fn redacted_target(uri: &actix_web::http::Uri) -> String {
    let Some(query) = uri.query() else { return uri.path().to_string() };
    let redacted: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if SECRET_QUERY_KEYS.contains(&key) => format!("{key}=[redacted]"),
            _ => pair.to_string(),
        })
        .collect();
    format!("{}?{}", uri.path(), redacted.join("&"))
}

impl tracing_actix_web::RootSpanBuilder for RedactingRootSpan {
    fn on_request_start(request: &actix_web::dev::ServiceRequest) -> tracing::Span {
        use actix_web::HttpMessage;
        let request_id =
            request.extensions().get::<tracing_actix_web::RequestId>().map(|id| id.to_string()).unwrap_or_default();
        // The forwarded address only when TRUST_PROXY_HEADERS says a proxy of ours sets it.
        let trusted = request
            .app_data::<actix_web::web::Data<AppState>>()
            .is_some_and(|state| state.settings.trust_proxy_headers);
        let client_ip = crate::http::audit::client_ip(request.request(), trusted);
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.target = %redacted_target(request.uri()),
            http.client_ip = %client_ip,
            request_id = %request_id,
            http.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: actix_web::body::MessageBody>(
        span: tracing::Span,
        outcome: &Result<actix_web::dev::ServiceResponse<B>, actix_web::Error>,
    ) {
        tracing_actix_web::DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_time_tokens_are_redacted_from_logged_addresses() {
        let uri: actix_web::http::Uri = "/password/set?token=s3cr3t&x=1".parse().unwrap();
        assert_eq!(redacted_target(&uri), "/password/set?token=[redacted]&x=1");
        let uri: actix_web::http::Uri = "/security/incidents?severity=High".parse().unwrap();
        assert_eq!(redacted_target(&uri), "/security/incidents?severity=High");
    }
}

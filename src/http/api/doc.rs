//! The OpenAPI document of both families of paths, generated from the handlers' annotations, and
//! the readable page made from it. It states every constraint the server enforces: ranges,
//! enumerations, lengths and patterns of parameters and bodies, that an empty query value means
//! absent, and each status an operation can answer. `tests/contract` holds the server to it.

use actix_web::HttpResponse;
use serde::{Deserialize, Serialize};
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::schema::{AnyOfBuilder, ArrayItems, SchemaType};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{AllOfBuilder, ArrayBuilder, Content, ObjectBuilder, RefOr, Required, Schema, Type};
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};

use super::attachments::{Attachment, AttachmentList};
use super::fh_auth::{AuthorizeRequest, AuthorizeResponse, CodeRequest, ReissueRequest, TokenResponse};
use super::incidents::{
    CONTROL_CHARACTERS, Me, MeAccount, OriginalAccount, OriginalUser, OriginalUserLinks, SecurityIncident,
    SecurityIncidentList, SeverityCount, WORD_SEPARATORS,
};
use super::ticket::{
    Comment, CommentList, NewCommentSchema, Organization, StatusChange, TicketDetails, TransitionRequestSchema,
    TransitionResult, TransitionView,
};
use super::tickets::{TicketItem, TicketList};
use super::wire::{Person, RequestType, Status};
use crate::domain::input::MAX_TEXT_CHARS;
use crate::domain::lifecycle::Transition;
use crate::http::context::PageContext;
use crate::paths;

/// An error of `/api/v1/…`: a stable code and a message for people.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiError {
    #[schema(example = "bad_request")]
    pub code: String,
    pub message: String,
    /// For a 5xx only: the request id to quote to support.
    #[serde(rename = "requestId", skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// An error of the original provider's paths, in its shape.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OriginalError {
    #[schema(example = "unauthorized")]
    pub error: String,
    pub error_description: String,
    /// The HTTP status again.
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    /// For a 5xx only: the request id to quote to support.
    #[serde(rename = "requestId", skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// A whole number in `min..=max`.
pub fn integer(min: u64, max: u64) -> Schema {
    ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(min)).maximum(Some(max)).into()
}

/// Text matching `pattern`, of at most `max_length` characters.
pub fn text_matching(pattern: &str, max_length: Option<usize>) -> Schema {
    ObjectBuilder::new().schema_type(Type::String).pattern(Some(pattern)).max_length(max_length).into()
}

/// An optional query parameter.
pub fn query_param(name: &str, description: &str, schema: Schema) -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

/// Exactly one of `values`.
pub fn enumeration(values: &[&str]) -> Schema {
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(values.iter().copied())).into()
}

/// A parameter that may be repeated.
pub fn array_of(item: Schema) -> Schema {
    ArrayBuilder::new().items(ArrayItems::RefOrSchema(Box::new(RefOr::T(item)))).into()
}

fn any_value(description: &str) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::AnyValue).description(Some(description))
}

/// Control characters a comment may not hold: all but tab and line breaks.
fn comment_controls() -> String {
    r"\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f".to_string()
}

/// A comment's text: no control characters but tab and line breaks; `required`, it must also hold
/// a character that is neither whitespace nor control (the server trims it first).
pub fn comment_schema(required: bool) -> ObjectBuilder {
    let control = comment_controls();
    let pattern = if required {
        format!("^[^{control}]*[^{CONTROL_CHARACTERS}{WORD_SEPARATORS}][^{control}]*$")
    } else {
        format!("^[^{control}]*$")
    };
    ObjectBuilder::new().schema_type(Type::String).max_length(Some(MAX_TEXT_CHARS)).pattern(Some(pattern))
}

impl PartialSchema for NewCommentSchema {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property(
                "comment",
                comment_schema(true).description(Some(
                    "The text: at most 20,000 characters, not blank, no control characters but tab and line breaks.",
                )),
            )
            .required("comment")
            .property(
                "isPublic",
                ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::Boolean, Type::Null])).description(Some(
                    "`false` writes an internal note: support staff only; a customer's is refused (403).",
                )),
            )
            .property(
                "issueKeyId",
                any_value("The ticket, as the original's clients send it; ignored: the path names the ticket."),
            )
            .into()
    }
}

impl ToSchema for NewCommentSchema {
    fn name() -> std::borrow::Cow<'static, str> {
        "NewComment".into()
    }
}

impl PartialSchema for TransitionRequestSchema {
    fn schema() -> RefOr<Schema> {
        let ids: Vec<&str> = Transition::ALL.iter().map(|t| t.id()).collect();
        let optional_comment: Vec<&str> =
            Transition::ALL.iter().filter(|t| !t.needs_comment()).map(|t| t.id()).collect();
        let body = ObjectBuilder::new()
            .schema_type(Type::Object)
            .property(
                "transitionId",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(ids))
                    .description(Some("One of the ids `GET …/transition` offers.")),
            )
            .required("transitionId")
            .property(
                "comment",
                comment_schema(false).schema_type(SchemaType::from_iter([Type::String, Type::Null])).description(Some(
                    "Required (not blank) to request closure, to close and to decline; optional otherwise.",
                )),
            )
            .property(
                "ticketNumber",
                any_value("The ticket, as the original's clients send it; ignored: the path names the ticket."),
            );
        let comment_given = ObjectBuilder::new()
            .schema_type(SchemaType::AnyValue)
            .property("comment", comment_schema(true))
            .required("comment");
        let comment_optional = ObjectBuilder::new().schema_type(SchemaType::AnyValue).property(
            "transitionId",
            ObjectBuilder::new().schema_type(SchemaType::AnyValue).enum_values(Some(optional_comment)),
        );
        AllOfBuilder::new().item(body).item(AnyOfBuilder::new().item(comment_optional).item(comment_given)).into()
    }
}

impl ToSchema for TransitionRequestSchema {
    fn name() -> std::borrow::Cow<'static, str> {
        "TransitionRequest".into()
    }
}

/// The signing rule, as the document and the API page state it.
pub const SIGNING: &str = "ARMOR-PSK {keyId}:{signature}:{nonce}:{timestamp}, where signature = \
base64(HMAC-SHA512(secret, keyId + METHOD + path + nonce + timestamp + body)). Documented form: `path` \
is the request target as sent, with its query string, and `body` the raw body (empty for GET). The \
original provider's form is accepted too: `path` without the query string, and `body` \
base64(SHA-512(raw body)) (empty for GET or no body); it does not protect the query string, and an \
account administrator can require the documented form. `timestamp` is Unix time in seconds within 5 \
minutes of the server's clock; `nonce` (at most 128 visible characters, no colon; the original's \
script sends the timestamp) may be reused for different calls, but a call is accepted once: an exact \
replay is refused on every instance. Optional header X-Account-Context: your account number; any other \
number is refused with 403 \"invalid account context\". A signed-in browser session may call these \
endpoints too (its changes need the session's CSRF token in X-CSRF-Token).";

/// FH-AUTH, as the document states it.
pub const FH_AUTH: &str = "FH-AUTH <access_token>: a token from POST /auth/authorize (email and \
password) then POST /auth/token, valid 15 minutes and extended by POST /auth/token/reissue. Only for \
accounts whose administrator turned FH-AUTH on, never for support staff or users who must use \
two-factor sign-in; tokens end with the user's sessions.";

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "ARMOR-PSK",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description("Authorization", SIGNING))),
        );
        components.add_security_scheme(
            "FH-AUTH",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description("Authorization", FH_AUTH))),
        );
    }
}

/// The original's paths of the calls both families share: the same operations at the root, with
/// the original's error body. Those without parameters ignore any they are sent there, so they
/// answer no 400.
struct OriginalPaths;

impl Modify for OriginalPaths {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let shared = [
            (
                paths::API_INCIDENTS,
                paths::ORIGINAL_INCIDENTS,
                Some("A bad value of a known parameter (others are ignored)"),
            ),
            (paths::API_SEVERITY_COUNT, paths::ORIGINAL_SEVERITY_COUNT, None),
            (paths::API_ME, paths::ORIGINAL_ME, None),
        ];
        for (v1, original, bad_request) in shared {
            let Some(mut item) = openapi.paths.paths.get(v1).cloned() else { continue };
            if let Some(operation) = item.get.as_mut() {
                operation.operation_id = operation.operation_id.as_ref().map(|id| format!("original_{id}"));
                match bad_request {
                    Some(description) => {
                        if let Some(RefOr::T(response)) = operation.responses.responses.get_mut("400") {
                            response.description = description.to_string();
                        }
                    }
                    None => {
                        operation.responses.responses.remove("400");
                    }
                }
                for response in operation.responses.responses.values_mut() {
                    if let RefOr::T(response) = response {
                        for content in response.content.values_mut() {
                            if let RefOr::T(content) = content {
                                replace_error_schema(content);
                            }
                        }
                    }
                }
            }
            openapi.paths.paths.insert(original.to_string(), item);
        }
    }
}

fn replace_error_schema(content: &mut Content) {
    if let Some(RefOr::Ref(reference)) = content.schema.as_mut()
        && reference.ref_location.ends_with("/ApiError")
    {
        reference.ref_location = reference.ref_location.replace("/ApiError", "/OriginalError");
    }
}

/// Every call with credentials may name the caller's account in `X-Account-Context`; any other
/// number, or something that is not one, is refused with 403 "invalid account context".
struct AccountContext;

impl Modify for AccountContext {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let header = ParameterBuilder::new()
            .name("X-Account-Context")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "The caller's account number (the first of /me's `accounts`); any other value is refused with 403 \"invalid account context\".",
            ))
            .schema(Some(ObjectBuilder::new().schema_type(Type::Integer)))
            .build();
        for item in openapi.paths.paths.values_mut() {
            for operation in operations_mut(item) {
                let signed = operation
                    .security
                    .iter()
                    .flatten()
                    .any(|requirement| *requirement != SecurityRequirement::default());
                if signed {
                    operation.parameters.get_or_insert_with(Vec::new).push(RefOr::T(header.clone()));
                }
            }
        }
    }
}

/// Both families read an empty query value as absent: every optional query parameter says so.
struct EmptyValues;

impl Modify for EmptyValues {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for operation in operations_mut(item) {
                for parameter in operation.parameters.iter_mut().flatten() {
                    if let RefOr::T(parameter) = parameter
                        && parameter.parameter_in == ParameterIn::Query
                        && parameter.required == Required::False
                    {
                        parameter
                            .extensions
                            .get_or_insert_with(Default::default)
                            .insert("allowEmptyValue".into(), true.into());
                    }
                }
            }
        }
    }
}

fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [item.get.as_mut(), item.post.as_mut()].into_iter().flatten()
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Incident Portal API",
        version = "1",
        description = "Security incidents and support tickets of a managed security service, compatible with the provider's v1 API: its paths at the root (errors as {\"error\", \"error_description\", \"status\"}; unknown query parameters ignored) and the portal's own under /api/v1 (errors as {\"code\", \"message\"}; unknown or repeated parameters refused). In both an empty query value means the parameter is absent."
    ),
    paths(
        super::incidents::security_incidents,
        super::incidents::severity_count,
        super::incidents::me,
        super::tickets::list_tickets,
        super::ticket::ticket_details,
        super::ticket::comments::ticket_comments,
        super::ticket::comments::add_ticket_comment,
        super::ticket::transitions::ticket_transitions,
        super::ticket::transitions::transition_ticket,
        super::fh_auth::authorize,
        super::fh_auth::token,
        super::fh_auth::reissue,
        super::attachments::ticket_attachments,
        super::attachments::attachment_download,
    ),
    components(schemas(
        SecurityIncident, SecurityIncidentList, SeverityCount, Me, MeAccount, OriginalUser, OriginalUserLinks,
        OriginalAccount, ApiError, OriginalError, Person, RequestType, Status, TicketItem, TicketList, Organization,
        StatusChange, TicketDetails, Comment, CommentList, NewCommentSchema, TransitionView, TransitionRequestSchema,
        TransitionResult, AuthorizeRequest, AuthorizeResponse, CodeRequest, TokenResponse, ReissueRequest, Attachment,
        AttachmentList
    )),
    modifiers(&Security, &OriginalPaths, &AccountContext, &EmptyValues)
)]
pub struct ApiDoc;

/// The document, built and compressed once; clients revalidate it with its `ETag`.
static OPENAPI: std::sync::LazyLock<crate::http::static_files::Fixed> = std::sync::LazyLock::new(|| {
    let json = serde_json::to_vec(&ApiDoc::openapi()).unwrap_or_default();
    crate::http::static_files::Fixed::new("application/json", json)
});

pub async fn openapi_json(req: actix_web::HttpRequest) -> HttpResponse {
    OPENAPI.respond(&req, "no-cache")
}

/// The readable API page, from the same OpenAPI document.
#[tracing::instrument(skip_all)]
pub async fn docs(ctx: PageContext) -> Result<HttpResponse, crate::error::AppError> {
    let page = crate::views::api_docs::ApiDocsPage::new(
        ctx.layout("API"),
        &ApiDoc::openapi(),
        SIGNING,
        FH_AUTH,
        paths::API_OPENAPI,
        paths::API_KEYS,
    );
    crate::views::render(actix_web::http::StatusCode::OK, &page)
}

//! The readable API page, rendered from the same OpenAPI document the API serves.

use askama::Template;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{OpenApi, RefOr, Required};

use super::layout::Layout;

pub struct ParamView {
    pub name: String,
    pub location: &'static str,
    pub required: bool,
    pub description: String,
}

pub struct ResponseView {
    pub status: String,
    pub description: String,
}

pub struct OperationView {
    pub method: &'static str,
    pub path: String,
    pub summary: String,
    pub params: Vec<ParamView>,
    /// The request body's schema and what it says, for POST.
    pub body: Option<(String, String)>,
    pub responses: Vec<ResponseView>,
}

#[derive(Template)]
#[template(path = "pages/api_docs.html")]
pub struct ApiDocsPage {
    pub layout: Layout,
    pub title: String,
    pub description: String,
    pub operations: Vec<OperationView>,
    pub signing: &'static str,
    pub fh_auth: &'static str,
    pub openapi_href: &'static str,
    pub keys_href: &'static str,
}

fn operation_view(method: &'static str, path: &str, operation: &Operation) -> OperationView {
    let params = operation
        .parameters
        .iter()
        .flatten()
        .filter_map(|p| match p {
            RefOr::T(p) => Some(ParamView {
                name: p.name.clone(),
                location: match p.parameter_in {
                    ParameterIn::Query => "query",
                    ParameterIn::Path => "path",
                    ParameterIn::Header => "header",
                    _ => "other",
                },
                required: matches!(p.required, Required::True),
                description: p.description.clone().unwrap_or_default(),
            }),
            RefOr::Ref(_) => None,
        })
        .collect();
    let responses = operation
        .responses
        .responses
        .iter()
        .map(|(status, response)| ResponseView {
            status: status.clone(),
            description: match response {
                RefOr::T(r) => r.description.clone(),
                RefOr::Ref(_) => String::new(),
            },
        })
        .collect();
    let body = operation.request_body.as_ref().and_then(|body| match body {
        RefOr::T(body) => Some(body),
        RefOr::Ref(_) => None,
    });
    let body = body.map(|body| {
        let schema = body
            .content
            .values()
            .find_map(|content| match content {
                RefOr::T(content) => content.schema.as_ref(),
                RefOr::Ref(_) => None,
            })
            .and_then(|schema| match schema {
                RefOr::Ref(reference) => reference.ref_location.rsplit('/').next().map(str::to_string),
                _ => None,
            })
            .unwrap_or_default();
        (schema, body.description.clone().unwrap_or_default())
    });
    OperationView {
        method,
        path: path.to_string(),
        summary: operation.summary.clone().unwrap_or_default(),
        params,
        body,
        responses,
    }
}

impl ApiDocsPage {
    pub fn new(
        layout: Layout,
        doc: &OpenApi,
        signing: &'static str,
        fh_auth: &'static str,
        openapi_href: &'static str,
        keys_href: &'static str,
    ) -> Self {
        let operations = doc
            .paths
            .paths
            .iter()
            .flat_map(|(path, item)| {
                [("GET", item.get.as_ref()), ("POST", item.post.as_ref())]
                    .into_iter()
                    .filter_map(move |(method, operation)| operation.map(|o| operation_view(method, path, o)))
            })
            .collect();
        ApiDocsPage {
            layout,
            title: doc.info.title.clone(),
            description: doc.info.description.clone().unwrap_or_default(),
            operations,
            signing,
            fh_auth,
            openapi_href,
            keys_href,
        }
    }
}

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
    OperationView {
        method,
        path: path.to_string(),
        summary: operation.summary.clone().unwrap_or_default(),
        params,
        responses,
    }
}

impl ApiDocsPage {
    pub fn new(
        layout: Layout,
        doc: &OpenApi,
        signing: &'static str,
        openapi_href: &'static str,
        keys_href: &'static str,
    ) -> Self {
        let operations = doc
            .paths
            .paths
            .iter()
            .filter_map(|(path, item)| item.get.as_ref().map(|operation| operation_view("GET", path, operation)))
            .collect();
        ApiDocsPage {
            layout,
            title: doc.info.title.clone(),
            description: doc.info.description.clone().unwrap_or_default(),
            operations,
            signing,
            openapi_href,
            keys_href,
        }
    }
}

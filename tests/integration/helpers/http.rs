//! Talking HTTP to the app as a browser would, and reading what it answers.

use reqwest::redirect::Policy;

use super::app::TestApp;

/// Headers that claim the portal is `https://evil.example`, the two ways proxies say it. They must
/// never choose the portal's origin, whether TRUST_PROXY_HEADERS is on or off.
pub const SPOOFED_HOSTS: [&[(&str, &str)]; 2] = [
    &[("x-forwarded-host", "evil.example"), ("x-forwarded-proto", "https")],
    &[("forwarded", "host=evil.example;proto=https")],
];

/// A browser-like client: keeps cookies, does not follow redirects (tests check them).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(Policy::none()).build().unwrap()
}

pub fn csrf_token(html: &str) -> String {
    let document = scraper::Html::parse_document(html);
    let selector = scraper::Selector::parse("input[name=csrf_token]").unwrap();
    document
        .select(&selector)
        .next()
        .and_then(|input| input.value().attr("value"))
        .expect("the page has a CSRF token")
        .to_string()
}

pub fn location(response: &reqwest::Response) -> String {
    response.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

/// One row of an incident table: the ticket number and the text of every cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRow {
    pub number: String,
    pub cells: Vec<String>,
}

pub fn table_rows(html: &str) -> Vec<TableRow> {
    let document = scraper::Html::parse_document(html);
    let row_selector = scraper::Selector::parse("table.incidents tbody tr").unwrap();
    let cell_selector = scraper::Selector::parse("td").unwrap();
    document
        .select(&row_selector)
        .map(|row| {
            let cells: Vec<String> = row
                .select(&cell_selector)
                .map(|cell| cell.text().collect::<String>().split_whitespace().collect::<Vec<_>>().join(" "))
                .collect();
            TableRow { number: cells[0].clone(), cells }
        })
        .collect()
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, client: &reqwest::Client, path: &str) -> reqwest::Response {
        client.get(self.url(path)).send().await.expect("the request completes")
    }

    pub async fn get_text(&self, client: &reqwest::Client, path: &str) -> (u16, String) {
        let response = self.get(client, path).await;
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    pub async fn post_form(&self, client: &reqwest::Client, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        client.post(self.url(path)).form(form).send().await.expect("the request completes")
    }

    /// The CSRF token of the session, read from a page that has a form.
    pub async fn csrf_token(&self, client: &reqwest::Client, page: &str) -> String {
        let (_, html) = self.get_text(client, page).await;
        csrf_token(&html)
    }
}

/// Blanks the values that differ between two sessions or two renders: the CSRF token and the
/// submission key of each form.
pub fn without_tokens(html: &str) -> String {
    let mut html = html.to_string();
    for field in ["csrf_token", "submission_key"] {
        let marker = format!("name=\"{field}\" value=\"");
        let mut out = String::new();
        let mut rest = html.as_str();
        while let Some(at) = rest.find(&marker) {
            out.push_str(&rest[..at + marker.len()]);
            rest = &rest[at + marker.len()..];
            rest = &rest[rest.find('"').unwrap_or(0)..];
        }
        out.push_str(rest);
        html = out;
    }
    html
}

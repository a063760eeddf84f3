//! Pieces several pages share: an option of a select or a group of boxes, and a pager.

/// One option of a `<select>` or one box of a group.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// Paging through a list (`partials/pager.html`): the links that exist, and where we are.
pub struct Pager {
    pub summary: String,
    pub page: u32,
    pub pages: u32,
    pub first: Option<String>,
    pub previous: Option<String>,
    pub next: Option<String>,
    pub last: Option<String>,
}

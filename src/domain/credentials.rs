//! How an API caller proved who they are, as the rules in `policy` need to know it.

/// The two ways an `ARMOR-PSK` signature may be computed over a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningForm {
    /// The portal's documented form: the request target with its query string, and the raw body.
    Documented,
    /// The original provider's script: the path without the query string, and for a body
    /// `base64(SHA-512(body))`. The query string is not signed.
    Original,
}

impl SigningForm {
    pub fn name(self) -> &'static str {
        match self {
            SigningForm::Documented => "documented",
            SigningForm::Original => "original",
        }
    }
}

/// What a call to the API carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiCredential {
    /// A signed-in browser session's cookie.
    Session,
    /// An API key's signature, in one of the two forms.
    Key(SigningForm),
    /// An FH-AUTH access token (the original's username-and-password flow).
    FhAuth,
}

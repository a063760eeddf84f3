//! Random tokens (session CSRF tokens, form keys, set-password links) and how they are stored.

use base64::Engine;
use sha2::{Digest, Sha256};

/// 256 random bits, URL-safe.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A token as a page carries it: XORed with a new random pad each time, pad first, so that the
/// same token never shows the same bytes twice. A compressed page's size then tells nothing of
/// it, whatever else the page reflects (BREACH).
pub fn mask(token: &str) -> String {
    let mut masked = vec![0u8; token.len() * 2];
    let (pad, rest) = masked.split_at_mut(token.len());
    rand::fill(pad);
    for ((out, byte), key) in rest.iter_mut().zip(token.bytes()).zip(pad.iter()) {
        *out = byte ^ key;
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(masked)
}

/// The token a masked one carries; `None` for anything [`mask`] did not make.
pub fn unmask(masked: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(masked).ok()?;
    if bytes.is_empty() || bytes.len() % 2 != 0 {
        return None;
    }
    let (pad, rest) = bytes.split_at(bytes.len() / 2);
    String::from_utf8(rest.iter().zip(pad).map(|(byte, key)| byte ^ key).collect()).ok()
}

/// What the database keeps of a secret token: a leaked table yields nothing usable.
pub fn token_hash(secret: &str) -> String {
    Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_masked_token_unmasks_and_never_looks_the_same_twice() {
        let token = new_token();
        let (first, second) = (mask(&token), mask(&token));
        assert_ne!(first, second);
        assert_eq!(unmask(&first).as_deref(), Some(token.as_str()));
        assert_eq!(unmask(&second).as_deref(), Some(token.as_str()));
        assert_eq!(unmask("not!base64"), None);
        assert_eq!(unmask(""), None);
        assert_eq!(unmask("AAAA"), None, "an odd length");
    }
}

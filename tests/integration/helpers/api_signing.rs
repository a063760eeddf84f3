//! Signed API calls: a key made directly in the store, and the `Authorization` header the
//! documented formula gives.

use super::app::TestApp;
use super::sign_in::PASSWORD;

/// An API key as its owner holds it.
#[derive(Clone, Debug)]
pub struct Key {
    pub id: String,
    pub secret: String,
}

impl TestApp {
    /// A key for `email`, made directly in the store (whatever the user's permissions).
    pub async fn api_key_for(&self, email: &str) -> Key {
        let principal = self.principal(email).await;
        let (id, secret) = incident_portal::auth::api_key::generate();
        let sealed = self.api_cipher.encrypt(&secret, &id);
        self.store
            .create_api_key(
                principal.user_id,
                principal.account().unwrap().id,
                "test key",
                &id,
                &sealed,
                self.clock.now(),
            )
            .await
            .unwrap();
        Key { id, secret }
    }

    /// The `Authorization` header of a call signed with a new nonce, exactly as the documented
    /// formula says, and the signature in it.
    pub fn authorization(&self, key: &Key, method: &str, target: &str, body: &[u8]) -> (String, String) {
        let nonce = incident_portal::auth::token::new_token();
        let timestamp = self.clock.now().timestamp();
        let signature =
            incident_portal::auth::api_key::sign(&key.secret, &key.id, method, target, &nonce, timestamp, body);
        (format!("ARMOR-PSK {}:{signature}:{nonce}:{timestamp}", key.id), signature)
    }

    /// A signed GET.
    pub async fn api_get(&self, key: &Key, target: &str) -> reqwest::Response {
        let (authorization, _) = self.authorization(key, "GET", target, b"");
        reqwest::Client::new().get(self.url(target)).header("authorization", authorization).send().await.unwrap()
    }
}

/// How a test signs a call: the documented form, or the original provider's script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signing {
    Documented,
    Original,
}

impl TestApp {
    /// The `Authorization` header exactly as the original provider's signing script makes it:
    /// `requestPath` is the path without its query string, a body is signed as
    /// base64(SHA-512(body)) (nothing for GET), and the nonce is the timestamp. Computed here
    /// with the primitives, not the portal's code.
    pub fn original_authorization(&self, key: &Key, method: &str, target: &str, body: &[u8]) -> String {
        use base64::Engine;
        use hmac::{Hmac, KeyInit, Mac};
        use sha2::{Digest, Sha512};
        let path = target.split('?').next().unwrap_or(target);
        let timestamp = self.clock.now().timestamp().to_string();
        let nonce = timestamp.clone();
        let body = if method == "GET" || body.is_empty() {
            String::new()
        } else {
            base64::engine::general_purpose::STANDARD.encode(Sha512::digest(body))
        };
        let mut mac = <Hmac<Sha512> as KeyInit>::new_from_slice(key.secret.as_bytes()).unwrap();
        mac.update(format!("{}{method}{path}{nonce}{timestamp}{body}", key.id).as_bytes());
        let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        format!("ARMOR-PSK {}:{signature}:{nonce}:{timestamp}", key.id)
    }

    /// A signed call in either form; `body` is sent as is (with the original's odd JSON content
    /// type when there is one).
    pub async fn api_call(
        &self,
        key: &Key,
        signing: Signing,
        method: &str,
        target: &str,
        body: &[u8],
    ) -> reqwest::Response {
        let authorization = match signing {
            Signing::Documented => self.authorization(key, method, target, body).0,
            Signing::Original => self.original_authorization(key, method, target, body),
        };
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request =
            reqwest::Client::new().request(method, self.url(target)).header("authorization", authorization);
        if !body.is_empty() {
            request = request.header("content-type", "application-json").body(body.to_vec());
        }
        request.send().await.unwrap()
    }

    /// Turns FH-AUTH on for `email`'s account, as its administrator would.
    pub async fn allow_fh_auth(&self, email: &str) {
        let account = self.principal(email).await.account().unwrap().id;
        self.store.set_account_api_access(account, true, false).await.unwrap();
    }

    /// An FH-AUTH access token for `email` (demo password), through both steps of the flow.
    pub async fn fh_auth_token(&self, email: &str) -> String {
        let http = reqwest::Client::new();
        let code: serde_json::Value = http
            .post(self.url("/auth/authorize"))
            .json(&serde_json::json!({ "username": email, "password": PASSWORD }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let code = code["code"].as_str().unwrap_or_else(|| panic!("a code for {email}: {code}"));
        let token: serde_json::Value = http
            .post(self.url("/auth/token"))
            .json(&serde_json::json!({ "code": code, "grant_type": "authorization_code" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        token["access_token"].as_str().unwrap_or_else(|| panic!("a token for {email}: {token}")).to_string()
    }
}

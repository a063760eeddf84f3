//! The demo users the tests sign in as, named once in `incident_portal::demo`, and signing in.

use incident_portal::auth::totp;
use incident_portal::clock::Clock;
use incident_portal::demo;
pub use incident_portal::demo::{AVERY, BILLIE, CASEY, DANA, DORA, MORGAN, RILEY, SAM, TESS};

use super::app::TestApp;
use super::http::{client, location};

pub const PASSWORD: &str = demo::DEMO_PASSWORD;

/// The code the demo staff's authenticator shows at `clock`'s time.
pub fn demo_code(clock: &Clock) -> String {
    let secret = totp::from_base32(demo::DEMO_TOTP_SECRET).unwrap();
    totp::code_at(&secret, clock.now().timestamp())
}

/// Does signing in as this demo user ask for a two-factor code? (Only the support staff have
/// set it up.)
pub fn is_staff(email: &str) -> bool {
    let user = demo::USERS.iter().find(|user| user.email == email);
    user.unwrap_or_else(|| panic!("{email} is not a demo user")).account.is_none()
}

impl TestApp {
    pub async fn try_sign_in(&self, client: &reqwest::Client, email: &str, password: &str) -> reqwest::Response {
        let token = self.csrf_token(client, "/login").await;
        self.post_form(client, "/login", &[("csrf_token", &token), ("email", email), ("password", password)]).await
    }

    /// A new client signed in as `email` with the demo password.
    pub async fn sign_in(&self, email: &str) -> reqwest::Client {
        self.sign_in_with(email, PASSWORD).await
    }

    pub async fn sign_in_with(&self, email: &str, password: &str) -> reqwest::Client {
        let client = client();
        let response = self.try_sign_in(&client, email, password).await;
        assert_eq!(response.status().as_u16(), 303, "signing in as {email}");
        if location(&response) == "/login/verify" {
            let secret = totp::from_base32(demo::DEMO_TOTP_SECRET).unwrap();
            let response = self.give_code(&client, &secret).await;
            assert_eq!(response.status().as_u16(), 303, "the two-factor step of {email}");
        }
        client
    }

    /// Signs in a user who set up two-factor sign-in with `secret`.
    pub async fn sign_in_with_code(&self, email: &str, secret: &[u8]) -> reqwest::Client {
        let client = client();
        let response = self.try_sign_in(&client, email, PASSWORD).await;
        assert_eq!(location(&response), "/login/verify", "{email} is asked for a code");
        let response = self.give_code(&client, secret).await;
        assert_eq!(response.status().as_u16(), 303, "the two-factor step of {email}");
        client
    }

    /// Answers the two-factor step with the current code. The clock first moves to the next
    /// 30-second step, since each code works only once.
    pub async fn give_code(&self, client: &reqwest::Client, secret: &[u8]) -> reqwest::Response {
        self.clock.advance(chrono::Duration::seconds(30));
        let code = totp::code_at(secret, self.clock.now().timestamp());
        let token = self.csrf_token(client, "/login/verify").await;
        self.post_form(client, "/login/verify", &[("csrf_token", &token), ("code", &code)]).await
    }
}

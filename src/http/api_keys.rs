//! The API Keys page: create a key (its secret shown once), list and revoke keys, as the three
//! API key permissions allow.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::audit::{Actor, SecurityEvent};
use super::context::PageContext;
use super::csrf::{CsrfForm, NoFields};
use super::respond::see_other;
use crate::auth::api_key;
use crate::auth::session::FlashLevel;
use crate::domain::input;
use crate::domain::policy::{self, ApiKeyAccess};
use crate::domain::principal::Principal;
use crate::error::AppError;
use crate::paths;
use crate::state::AppState;
use crate::views::api_keys::{ApiKeysPage, NewKey, key_row};
use crate::views::render;

async fn page(
    ctx: &PageContext,
    state: &AppState,
    principal: &Principal,
    access: ApiKeyAccess,
    new_key: Option<NewKey>,
    error: Option<String>,
    name: String,
) -> Result<ApiKeysPage, AppError> {
    if new_key.is_some() {
        ctx.shows_secret();
    }
    let zone = principal.time_zone;
    let keys = state
        .store
        .account_api_keys(access.account_id)
        .await?
        .into_iter()
        .filter(|k| access.may_see(principal, k.user_id))
        .map(|k| {
            let revocable = k.revoked_at.is_none() && access.may_revoke(principal, k.user_id);
            key_row(k, revocable, zone)
        })
        .collect();
    Ok(ApiKeysPage {
        layout: ctx.layout("API Keys"),
        keys,
        create_action: access.manage_own.then_some(paths::API_KEYS),
        sees_all: access.read_all,
        new_key,
        name,
        error,
        docs_href: paths::API_DOCS,
    })
}

#[tracing::instrument(skip_all)]
pub async fn api_keys(ctx: PageContext, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let access = policy::api_key_access(principal)?;
    render(StatusCode::OK, &page(&ctx, &state, principal, access, None, None, String::new()).await?)
}

#[derive(Deserialize)]
pub struct NewKeyForm {
    name: String,
}

/// Creates a key and shows its secret, once, in this response: it is never stored in plain text,
/// not even in the session for a redirect.
#[tracing::instrument(skip_all)]
pub async fn create_api_key(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<NewKeyForm>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let access = policy::api_key_access(principal)?;
    if !access.manage_own {
        return Err(AppError::MissingPermissions(vec![crate::domain::permission::Permission::ApiKeysSelfManage]));
    }
    let name = match input::name(&form.name, "key's name") {
        Ok(name) => name,
        Err(message) => {
            let view = page(&ctx, &state, principal, access, None, Some(message), form.name).await?;
            return render(StatusCode::UNPROCESSABLE_ENTITY, &view);
        }
    };
    let (key_id, secret) = api_key::generate();
    let ciphertext = state.cipher.encrypt(&secret, &key_id);
    state
        .store
        .create_api_key(principal.user_id, access.account_id, &name, &key_id, &ciphertext, state.clock.now())
        .await?;
    SecurityEvent::new("api_key_created", Actor::from(principal))
        .target(key_id.clone())
        .detail(name.clone())
        .record(&state, &req)
        .await?;
    let base = state.public_url.origin();
    let new_key = NewKey {
        shell_example: shell_example(base, &key_id, &secret),
        python_example: python_example(base, &key_id, &secret),
        name,
        key_id,
        secret,
    };
    render(StatusCode::OK, &page(&ctx, &state, principal, access, Some(new_key), None, String::new()).await?)
}

#[tracing::instrument(skip_all, fields(key_id = %key_id))]
pub async fn revoke_api_key(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    key_id: web::Path<String>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let access = policy::api_key_access(principal)?;
    // Another account's key, and one this user may not see, answer like a missing one.
    let key = state
        .store
        .api_key(&key_id)
        .await?
        .filter(|k| k.account_id == access.account_id && access.may_see(principal, k.user_id))
        .ok_or(AppError::NotFound)?;
    if !access.may_revoke(principal, key.user_id) {
        return Err(AppError::MissingPermissions(vec![crate::domain::permission::Permission::ApiKeysAllDelete]));
    }
    if state.store.revoke_api_key(key.id, state.clock.now()).await? {
        let mut actor = Actor::from(principal);
        actor.account_id = Some(key.account_id);
        SecurityEvent::new("api_key_revoked", actor)
            .target(key.key_id.clone())
            .detail(key.name.clone())
            .record(&state, &req)
            .await?;
    }
    ctx.session().flash(
        FlashLevel::Success,
        format!("The key “{}” is revoked; calls with it are refused from now on.", key.name),
    );
    Ok(see_other(paths::API_KEYS))
}

fn shell_example(base: &str, key_id: &str, secret: &str) -> String {
    format!(
        r#"KEY_ID='{key_id}'
SECRET='{secret}'
URL_PATH='{path}'
NONCE=$(openssl rand -hex 16)
TS=$(date +%s)
SIG=$(printf '%s' "${{KEY_ID}}GET${{URL_PATH}}${{NONCE}}${{TS}}" | openssl dgst -sha512 -hmac "$SECRET" -binary | base64 -w0)
curl -s -H "Authorization: ARMOR-PSK ${{KEY_ID}}:${{SIG}}:${{NONCE}}:${{TS}}" "{base}${{URL_PATH}}""#,
        path = paths::API_INCIDENTS,
    )
}

fn python_example(base: &str, key_id: &str, secret: &str) -> String {
    format!(
        r#"import base64, hashlib, hmac, json, secrets, time, urllib.request

key_id, secret = "{key_id}", "{secret}"
path = "{path}"
nonce, ts = secrets.token_hex(16), str(int(time.time()))
message = (key_id + "GET" + path + nonce + ts).encode()
signature = base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha512).digest()).decode()
request = urllib.request.Request("{base}" + path, headers={{
    "Authorization": f"ARMOR-PSK {{key_id}}:{{signature}}:{{nonce}}:{{ts}}"}})
print(json.load(urllib.request.urlopen(request)))"#,
        path = paths::API_INCIDENTS,
    )
}

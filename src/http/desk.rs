//! The support desk: the changes only support staff make to a ticket, opening a ticket on a
//! customer's behalf, accounts, staff and the audit log.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{Duration, NaiveDate, TimeZone};
use serde::Deserialize;

use super::audit::{Actor, SecurityEvent};
use super::context::PageContext;
use super::csrf::{CsrfForm, NoFields};
use super::sign_in::see_other;
use super::tickets::{
    PageErrors, TicketView, change_error, forged, insert_once, person_choices, recipient_ids, record_ticket_events,
    render_ticket, validate_new_ticket,
};
use crate::auth::session::{FlashLevel, new_token};
use crate::domain::input;
use crate::domain::lifecycle::{Change, Event};
use crate::domain::policy;
use crate::domain::principal::Principal;
use crate::domain::ticket::{EventKind, Severity, TicketNumber, TicketStatus};
use crate::error::AppError;
use crate::paths;
use crate::state::AppState;
use crate::store::{AuditFilter, ChangeResult, CommentInput, NewTicket, NewUser, PasswordToken};
use crate::views::desk::{
    AccountDraft, AccountRow, AccountsPage, AuditFilters, AuditPage, AuditRow, NewAccountPage, StaffDraft, StaffPage,
    StaffRow,
};
use crate::views::format::timestamp;
use crate::views::new_ticket::{NewTicketPage, TicketDraft};
use crate::views::render;
use crate::views::ticket_table::{Choice, Pager};

/// How long a set-password link works.
const PASSWORD_LINK_HOURS: i64 = 72;
const AUDIT_PAGE_SIZE: i64 = 50;

/// Every desk route starts here: support staff pass; a customer who sends a desk form used a
/// control they were never shown, which is refused and logged as forged.
async fn support_only<'a>(
    ctx: &'a PageContext,
    state: &AppState,
    req: &HttpRequest,
) -> Result<&'a Principal, AppError> {
    let principal = ctx.principal()?;
    if policy::require_support(principal).is_err() {
        if req.method() == actix_web::http::Method::POST {
            return Err(forged(state, req, principal, "support desk action by a customer").await);
        }
        policy::require_support(principal)?;
    }
    Ok(principal)
}

async fn support_admin_only<'a>(
    ctx: &'a PageContext,
    state: &AppState,
    req: &HttpRequest,
) -> Result<&'a Principal, AppError> {
    let principal = support_only(ctx, state, req).await?;
    policy::require_support_admin(principal)?;
    Ok(principal)
}

fn version(raw: &str) -> Result<i64, AppError> {
    raw.trim()
        .parse()
        .map_err(|_| AppError::BadRequest("The form is missing the ticket's version; reload the page.".into()))
}

/// One desk form's request: which ticket, the version the page showed, and what to do.
struct DeskChange<'a> {
    number: &'a str,
    version: i64,
    comment: Option<CommentInput>,
    change: Change,
    /// The flash message when it is done.
    done: &'a str,
}

/// Applies a desk change to a ticket, refusing it if the page was stale, and records it.
async fn apply_desk_change(
    ctx: &PageContext,
    req: &HttpRequest,
    state: &AppState,
    desk: DeskChange<'_>,
) -> Result<HttpResponse, AppError> {
    let DeskChange { number, version: expected_version, comment, change, done } = desk;
    let principal = support_only(ctx, state, req).await?;
    let number = TicketNumber::parse(number).ok_or(AppError::NotFound)?;
    let ticket = state.store.ticket(number.id()).await?.ok_or(AppError::NotFound)?;
    let reload = paths::ticket(number);
    let result = state
        .store
        .change_ticket(
            ticket.id,
            principal.user_id,
            Some(expected_version),
            comment.as_ref(),
            &[change],
            state.clock.now(),
        )
        .await
        .map_err(|e| change_error(e, reload.clone()))?;
    if let ChangeResult::Applied(outcome) = result {
        record_ticket_events(state, req, principal, number, Some(ticket.account_id), &outcome.events).await?;
    }
    ctx.session().flash(FlashLevel::Success, done);
    Ok(see_other(&reload))
}

/// Shows the ticket again with a message for the desk form that needs fixing.
async fn desk_form_error(
    ctx: &PageContext,
    state: &AppState,
    req: &HttpRequest,
    number: &str,
    message: String,
) -> Result<HttpResponse, AppError> {
    support_only(ctx, state, req).await?;
    render_ticket(ctx, state, number, TicketView::Ticket, PageErrors { comment: None, desk: Some(message) }).await
}

#[derive(Deserialize)]
pub struct SeverityForm {
    version: String,
    severity: String,
}

#[tracing::instrument(skip_all, fields(number = %number))]
pub async fn set_severity(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    number: web::Path<String>,
    CsrfForm(form): CsrfForm<SeverityForm>,
) -> Result<HttpResponse, AppError> {
    let severity = match form.severity.trim() {
        "" => None,
        name => Some(
            name.parse::<Severity>()
                .map_err(|()| AppError::BadRequest("Choose Low, Medium, High, Critical or no label.".into()))?,
        ),
    };
    let done = match severity {
        Some(severity) => format!("The ticket is a security incident of severity {severity}."),
        None => "The ticket is no longer labelled as a security incident.".to_string(),
    };
    apply_desk_change(
        &ctx,
        &req,
        &state,
        DeskChange {
            number: &number,
            version: version(&form.version)?,
            comment: None,
            change: Change::SetSeverity(severity),
            done: &done,
        },
    )
    .await
}

#[derive(Deserialize)]
pub struct StatusForm {
    version: String,
    status: String,
}

#[tracing::instrument(skip_all, fields(number = %number))]
pub async fn set_status(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    number: web::Path<String>,
    CsrfForm(form): CsrfForm<StatusForm>,
) -> Result<HttpResponse, AppError> {
    let status = form
        .status
        .parse::<TicketStatus>()
        .ok()
        .filter(|s| TicketStatus::ACTIVE.contains(s))
        .ok_or_else(|| AppError::BadRequest("Choose Open or Requires Attention.".into()))?;
    let done = format!("The ticket is now {status}.");
    apply_desk_change(
        &ctx,
        &req,
        &state,
        DeskChange {
            number: &number,
            version: version(&form.version)?,
            comment: None,
            change: Change::SetStatus(status),
            done: &done,
        },
    )
    .await
}

#[derive(Deserialize)]
pub struct CloseForm {
    version: String,
    resolution: String,
}

#[tracing::instrument(skip_all, fields(number = %number))]
pub async fn close(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    number: web::Path<String>,
    CsrfForm(form): CsrfForm<CloseForm>,
) -> Result<HttpResponse, AppError> {
    let expected = version(&form.version)?;
    let resolution = match input::text(&form.resolution, true, "a resolution comment to close the ticket") {
        Ok(text) => text,
        Err(message) => return desk_form_error(&ctx, &state, &req, &number, message).await,
    };
    let comment = CommentInput { body: resolution, internal: false, submission_key: None };
    apply_desk_change(
        &ctx,
        &req,
        &state,
        DeskChange {
            number: &number,
            version: expected,
            comment: Some(comment),
            change: Change::Close,
            done: "The ticket is closed.",
        },
    )
    .await
}

#[derive(Deserialize)]
pub struct DeclineForm {
    version: String,
    reason: String,
}

#[tracing::instrument(skip_all, fields(number = %number))]
pub async fn decline_closure(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    number: web::Path<String>,
    CsrfForm(form): CsrfForm<DeclineForm>,
) -> Result<HttpResponse, AppError> {
    let expected = version(&form.version)?;
    let reason = match input::text(&form.reason, true, "the reason for declining, for the customer") {
        Ok(text) => text,
        Err(message) => return desk_form_error(&ctx, &state, &req, &number, message).await,
    };
    let comment = CommentInput { body: reason, internal: false, submission_key: None };
    let done = "The closure request is declined; the customer sees your reason.";
    apply_desk_change(
        &ctx,
        &req,
        &state,
        DeskChange { number: &number, version: expected, comment: Some(comment), change: Change::DeclineClosure, done },
    )
    .await
}

#[derive(Deserialize)]
pub struct ReopenForm {
    version: String,
    #[serde(default)]
    comment: String,
}

#[tracing::instrument(skip_all, fields(number = %number))]
pub async fn reopen(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    number: web::Path<String>,
    CsrfForm(form): CsrfForm<ReopenForm>,
) -> Result<HttpResponse, AppError> {
    let expected = version(&form.version)?;
    let comment = match input::text(&form.comment, false, "a comment") {
        Ok(text) if text.is_empty() => None,
        Ok(text) => Some(CommentInput { body: text, internal: false, submission_key: None }),
        Err(message) => return desk_form_error(&ctx, &state, &req, &number, message).await,
    };
    apply_desk_change(
        &ctx,
        &req,
        &state,
        DeskChange {
            number: &number,
            version: expected,
            comment,
            change: Change::Reopen,
            done: "The ticket is open again.",
        },
    )
    .await
}

#[derive(Deserialize)]
pub struct RemoveRecipientForm {}

#[tracing::instrument(skip_all)]
pub async fn remove_recipient(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    _form: CsrfForm<RemoveRecipientForm>,
) -> Result<HttpResponse, AppError> {
    let principal = support_only(&ctx, &state, &req).await?;
    let (number, user_id) = path.into_inner();
    let number = TicketNumber::parse(&number).ok_or(AppError::NotFound)?;
    let user_id: i64 = user_id.parse().map_err(|_| AppError::NotFound)?;
    let ticket = state.store.ticket(number.id()).await?.ok_or(AppError::NotFound)?;
    let recipients = state.store.ticket_recipients(ticket.id).await?;
    let person = recipients.into_iter().find(|r| r.id == user_id).ok_or(AppError::NotFound)?;
    if state.store.remove_recipient(ticket.id, person.id, &person.name, principal.user_id, state.clock.now()).await? {
        let event = Event { kind: EventKind::RecipientRemoved, from: Some(person.name.clone()), to: None };
        record_ticket_events(&state, &req, principal, number, Some(ticket.account_id), &[event]).await?;
    }
    ctx.session().flash(FlashLevel::Success, format!("{} is no longer a recipient.", person.name));
    Ok(see_other(&paths::ticket(number)))
}

#[derive(Deserialize)]
pub struct NewTicketQuery {
    account: Option<String>,
}

/// The chosen account's id and label, if the query names a real one.
async fn chosen_account(state: &AppState, raw: Option<&str>) -> Result<Option<(i64, i64, String)>, AppError> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else { return Ok(None) };
    let number = input::account_number(raw).map_err(AppError::BadRequest)?;
    let (id, name) = state
        .store
        .account_by_number(number)
        .await?
        .ok_or_else(|| AppError::BadRequest(format!("There is no account {number}.")))?;
    Ok(Some((id, number, format!("{name} ({number})"))))
}

async fn on_behalf_page(
    ctx: &PageContext,
    state: &AppState,
    account: Option<(i64, i64, String)>,
    draft: TicketDraft,
) -> Result<NewTicketPage, AppError> {
    let accounts = state.store.list_accounts().await?;
    let choices = accounts
        .iter()
        .map(|a| Choice {
            value: a.number.to_string(),
            label: format!("{} ({})", a.name, a.number),
            selected: account.as_ref().is_some_and(|(_, number, _)| *number == a.number),
        })
        .collect();
    let (people, openers) = match &account {
        Some((id, _, _)) => {
            let people = state.store.account_people(*id).await?;
            let openers = people
                .iter()
                .map(|p| Choice {
                    value: p.id.to_string(),
                    label: format!("{} ({})", p.name, p.email),
                    selected: draft.opener_id == Some(p.id),
                })
                .collect();
            (people, openers)
        }
        None => (Vec::new(), Vec::new()),
    };
    Ok(NewTicketPage {
        layout: ctx.layout("Open a ticket for a customer"),
        action: paths::DESK_TICKETS,
        back_href: paths::DESK_QUEUE,
        submission_key: new_token(),
        people: person_choices(people, None, &draft.recipient_ids),
        draft,
        accounts: choices,
        account: account.map(|(_, number, label)| (number, label)),
        openers,
    })
}

#[tracing::instrument(skip_all)]
pub async fn new_ticket_form(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<NewTicketQuery>,
) -> Result<HttpResponse, AppError> {
    support_only(&ctx, &state, &req).await?;
    let account = chosen_account(&state, query.account.as_deref()).await?;
    render(StatusCode::OK, &on_behalf_page(&ctx, &state, account, TicketDraft::default()).await?)
}

#[derive(Deserialize)]
pub struct OnBehalfForm {
    account: String,
    opener_id: String,
    summary: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    recipient: Vec<String>,
    submission_key: Option<String>,
}

#[tracing::instrument(skip_all)]
pub async fn open_ticket(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<OnBehalfForm>,
) -> Result<HttpResponse, AppError> {
    let principal = support_only(&ctx, &state, &req).await?;
    let account = chosen_account(&state, Some(&form.account))
        .await?
        .ok_or_else(|| AppError::BadRequest("Choose an account.".into()))?;
    let people = state.store.account_people(account.0).await?;
    let opener = form.opener_id.trim().parse::<i64>().ok().filter(|id| people.iter().any(|p| p.id == *id));
    let mut draft = TicketDraft {
        summary: form.summary,
        description: form.description,
        recipient_ids: recipient_ids(&form.recipient)?,
        opener_id: opener,
        errors: Vec::new(),
    };
    if opener.is_none() {
        draft.errors.push("Choose who the ticket is from: a user of the account.".into());
    }
    let fields = validate_new_ticket(&mut draft, &people, opener.unwrap_or_default());
    let (Some((summary, description)), Some(opener_id)) = (fields, opener) else {
        let page = on_behalf_page(&ctx, &state, Some(account), draft).await?;
        return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
    };
    let key = form.submission_key.filter(|k| {
        (16..=64).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    let ticket = NewTicket {
        account_id: account.0,
        opener_id,
        created_by: principal.user_id,
        summary,
        description,
        recipient_ids: draft.recipient_ids,
        status: TicketStatus::Open,
        severity: None,
        created_at: state.clock.now(),
        submission_key: key,
    };
    let number = insert_once(&state, &ticket).await?;
    let mut actor = Actor::from(principal);
    actor.account_id = Some(account.0);
    SecurityEvent::new("ticket_opened", actor)
        .target(number.to_string())
        .detail("on the customer's behalf")
        .record(&state, &req)
        .await?;
    ctx.session().flash(FlashLevel::Success, format!("Ticket {number} is open for {}.", account.2));
    Ok(see_other(&paths::ticket(number)))
}

#[tracing::instrument(skip_all)]
pub async fn accounts(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let principal = support_admin_only(&ctx, &state, &req).await?;
    let zone = principal.time_zone;
    let accounts = state
        .store
        .list_accounts()
        .await?
        .into_iter()
        .map(|a| AccountRow {
            queue_href: paths::with_query(paths::DESK_QUEUE, &format!("account={}", a.number)),
            number: a.number,
            name: a.name,
            users: a.users,
            open_incidents: a.open_incidents,
            created: timestamp(a.created_at, zone),
        })
        .collect();
    render(
        StatusCode::OK,
        &AccountsPage { layout: ctx.layout("Accounts"), accounts, new_account_href: paths::DESK_NEW_ACCOUNT },
    )
}

#[tracing::instrument(skip_all)]
pub async fn new_account_form(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    support_admin_only(&ctx, &state, &req).await?;
    let page = NewAccountPage {
        layout: ctx.layout("Create an account"),
        action: paths::DESK_ACCOUNTS,
        draft: AccountDraft::default(),
    };
    render(StatusCode::OK, &page)
}

/// A one-time set-password token: the secret for the link, and what the database keeps.
fn password_token(state: &AppState, created_by: i64) -> (String, PasswordToken) {
    let secret = new_token();
    let token = PasswordToken {
        token_hash: crate::auth::token::token_hash(&secret),
        expires_at: state.clock.now() + Duration::hours(PASSWORD_LINK_HOURS),
        created_by,
    };
    (secret, token)
}

/// The absolute link to hand over; no email server is assumed.
fn password_link(state: &AppState, secret: &str) -> String {
    state.public_url.link(&paths::password_set_with(secret))
}

#[derive(Deserialize)]
pub struct NewAccountForm {
    name: String,
    number: String,
    first_name: String,
    last_name: String,
    email: String,
}

#[tracing::instrument(skip_all)]
pub async fn create_account(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<NewAccountForm>,
) -> Result<HttpResponse, AppError> {
    let principal = support_admin_only(&ctx, &state, &req).await?;
    let mut draft = AccountDraft {
        name: form.name,
        number: form.number,
        first_name: form.first_name,
        last_name: form.last_name,
        email: form.email,
        errors: Vec::new(),
    };
    let name = input::name(&draft.name, "account name").map_err(|e| draft.errors.push(e)).ok();
    let number = input::account_number(&draft.number).map_err(|e| draft.errors.push(e)).ok();
    let first = input::name(&draft.first_name, "first name").map_err(|e| draft.errors.push(e)).ok();
    let last = input::name(&draft.last_name, "last name").map_err(|e| draft.errors.push(e)).ok();
    let email = input::email(&draft.email).map_err(|e| draft.errors.push(e)).ok();
    let invalid = |draft: AccountDraft| {
        let page = NewAccountPage { layout: ctx.layout("Create an account"), action: paths::DESK_ACCOUNTS, draft };
        render(StatusCode::UNPROCESSABLE_ENTITY, &page)
    };
    let (Some(name), Some(number), Some(first_name), Some(last_name), Some(email)) = (name, number, first, last, email)
    else {
        return invalid(draft);
    };
    let admin = NewUser {
        account_id: None,
        email: email.clone(),
        first_name,
        last_name,
        password_hash: None,
        support_admin: false,
        time_zone: "UTC".into(),
        enabled: true,
    };
    let (secret, token) = password_token(&state, principal.user_id);
    let (account_id, _) =
        match state.store.create_account_with_admin(number, &name, &admin, &token, state.clock.now()).await {
            Ok(ids) => ids,
            Err(crate::store::StoreError::Duplicate(_)) => {
                draft.errors.push("That account number or email address is already in use.".into());
                return invalid(draft);
            }
            Err(error) => return Err(error.into()),
        };
    let mut actor = Actor::from(principal);
    actor.account_id = Some(account_id);
    SecurityEvent::new("account_created", actor)
        .target(format!("{name} ({number})"))
        .detail(format!("first administrator {email}"))
        .record(&state, &req)
        .await?;
    ctx.session().flash(
        FlashLevel::Success,
        format!(
            "Account {name} ({number}) is created. Give {email} this one-time link to set a password; it works once, within {PASSWORD_LINK_HOURS} hours, and is not shown again: {}",
            password_link(&state, &secret)
        ),
    );
    Ok(see_other(paths::DESK_ACCOUNTS))
}

async fn staff_page(
    ctx: &PageContext,
    state: &AppState,
    principal: &Principal,
    draft: StaffDraft,
) -> Result<StaffPage, AppError> {
    let staff = state
        .store
        .list_staff()
        .await?
        .into_iter()
        .map(|m| StaffRow {
            name: m.name,
            email: m.email,
            role: if m.is_support_admin { "Support administrator" } else { "Support agent" },
            enabled: m.enabled,
            two_factor: m.two_factor,
            reset_two_factor_action: (m.two_factor && m.id != principal.user_id)
                .then(|| format!("{}/{}/reset-two-factor", paths::DESK_STAFF, m.id)),
            last_sign_in: m.last_sign_in_at.map(|at| timestamp(at, principal.time_zone)),
        })
        .collect();
    Ok(StaffPage { layout: ctx.layout("Support staff"), action: paths::DESK_STAFF, staff, draft })
}

#[tracing::instrument(skip_all)]
pub async fn staff(ctx: PageContext, req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let principal = support_admin_only(&ctx, &state, &req).await?;
    render(StatusCode::OK, &staff_page(&ctx, &state, principal, StaffDraft::default()).await?)
}

/// Clears a staff member's two-factor sign-in (a lost phone): they must set it up again at
/// their next request.
#[tracing::instrument(skip_all)]
pub async fn reset_staff_two_factor(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    user_id: web::Path<String>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let principal = support_admin_only(&ctx, &state, &req).await?;
    let user_id: i64 = user_id.parse().map_err(|_| AppError::NotFound)?;
    let member = state.store.list_staff().await?.into_iter().find(|m| m.id == user_id).ok_or(AppError::NotFound)?;
    if member.id == principal.user_id {
        return Err(AppError::Forbidden("Another support administrator must reset your two-factor sign-in.".into()));
    }
    state.store.disable_two_factor(member.id).await?;
    // The lost device may still hold a session.
    let ended = state.store.delete_sessions_of_user(member.id, None).await?;
    SecurityEvent::new("two_factor_reset", Actor::from(principal))
        .target(member.email)
        .detail(format!("{ended} sessions ended"))
        .record(&state, &req)
        .await?;
    ctx.session().flash(
        FlashLevel::Success,
        format!("Two-factor sign-in of {} is reset, and their sessions have ended.", member.name),
    );
    Ok(see_other(paths::DESK_STAFF))
}

#[derive(Deserialize)]
pub struct NewStaffForm {
    first_name: String,
    last_name: String,
    email: String,
    admin: Option<String>,
}

#[tracing::instrument(skip_all)]
pub async fn create_staff(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<NewStaffForm>,
) -> Result<HttpResponse, AppError> {
    let principal = support_admin_only(&ctx, &state, &req).await?;
    let mut draft = StaffDraft {
        first_name: form.first_name,
        last_name: form.last_name,
        email: form.email,
        admin: form.admin.is_some(),
        errors: Vec::new(),
    };
    let first = input::name(&draft.first_name, "first name").map_err(|e| draft.errors.push(e)).ok();
    let last = input::name(&draft.last_name, "last name").map_err(|e| draft.errors.push(e)).ok();
    let email = input::email(&draft.email).map_err(|e| draft.errors.push(e)).ok();
    let (Some(first_name), Some(last_name), Some(email)) = (first, last, email) else {
        return render(StatusCode::UNPROCESSABLE_ENTITY, &staff_page(&ctx, &state, principal, draft).await?);
    };
    let member = NewUser {
        account_id: None,
        email: email.clone(),
        first_name,
        last_name,
        password_hash: None,
        support_admin: draft.admin,
        time_zone: "UTC".into(),
        enabled: true,
    };
    let (secret, token) = password_token(&state, principal.user_id);
    match state.store.create_staff_member(&member, &token, state.clock.now()).await {
        Ok(_) => {}
        Err(crate::store::StoreError::Duplicate(_)) => {
            draft.errors.push("That email address is already in use.".into());
            return render(StatusCode::UNPROCESSABLE_ENTITY, &staff_page(&ctx, &state, principal, draft).await?);
        }
        Err(error) => return Err(error.into()),
    }
    let role = if draft.admin { "support administrator" } else { "support agent" };
    SecurityEvent::new("staff_created", Actor::from(principal))
        .target(email.clone())
        .detail(role)
        .record(&state, &req)
        .await?;
    ctx.session().flash(
        FlashLevel::Success,
        format!(
            "{email} is a {role}. Give them this one-time link to set a password; it works once, within {PASSWORD_LINK_HOURS} hours, and is not shown again: {}",
            password_link(&state, &secret)
        ),
    );
    Ok(see_other(paths::DESK_STAFF))
}

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    account: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    from: Option<String>,
    until: Option<String>,
    page: Option<String>,
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

#[tracing::instrument(skip_all)]
pub async fn audit_log(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let principal = support_only(&ctx, &state, &req).await?;
    let zone = principal.time_zone;
    let query: AuditQuery = serde_html_form::from_str(req.query_string())
        .map_err(|e| AppError::BadRequest(format!("The address has a malformed query: {e}.")))?;
    // Days are the reader's days: from the start of `from` to the end of `until`.
    let day = |raw: &str| -> Result<chrono::DateTime<chrono::Utc>, AppError> {
        let date = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .map_err(|_| AppError::BadRequest("Dates are written YYYY-MM-DD.".into()))?;
        let start = zone
            .from_local_datetime(&date.and_hms_opt(0, 0, 0).unwrap_or_default())
            .earliest()
            .ok_or_else(|| AppError::BadRequest("That date does not exist in your time zone.".into()))?;
        Ok(start.with_timezone(&chrono::Utc))
    };
    let actions = state.store.audit_actions().await?;
    let action = non_empty(&query.action).map(str::to_string);
    if action.as_ref().is_some_and(|a| a.len() > 64 || a.chars().any(char::is_control)) {
        return Err(AppError::BadRequest("Unknown action.".into()));
    }
    let actor = non_empty(&query.actor).map(str::to_string);
    if actor.as_ref().is_some_and(|a| a.chars().count() > 254) {
        return Err(AppError::BadRequest("The actor filter is too long.".into()));
    }
    if actor.as_ref().is_some_and(|a| a.chars().any(char::is_control)) {
        return Err(AppError::BadRequest("The actor filter contains control characters.".into()));
    }
    let filter = AuditFilter {
        account_number: non_empty(&query.account)
            .map(input::account_number)
            .transpose()
            .map_err(AppError::BadRequest)?,
        actor: actor.clone(),
        action: action.clone(),
        from: non_empty(&query.from).map(day).transpose()?,
        until: non_empty(&query.until).map(|d| day(d).map(|start| start + Duration::days(1))).transpose()?,
    };
    let page: u32 = match non_empty(&query.page) {
        Some(p) => p
            .parse()
            .ok()
            .filter(|n| (1..=100_000).contains(n))
            .ok_or_else(|| AppError::BadRequest("The page must be a whole number from 1.".into()))?,
        None => 1,
    };
    let (records, total) =
        state.store.list_audit(&filter, AUDIT_PAGE_SIZE, i64::from(page - 1) * AUDIT_PAGE_SIZE).await?;
    let rows = records
        .into_iter()
        .map(|r| AuditRow {
            at: timestamp(r.occurred_at, zone),
            action: r.action,
            actor: r.actor_email.unwrap_or_default(),
            account: match (r.account_name, r.account_number) {
                (Some(name), Some(number)) => format!("{name} ({number})"),
                _ => String::new(),
            },
            target: r.target.unwrap_or_default(),
            detail: r.detail.unwrap_or_default(),
            request_id_short: r.request_id.as_deref().unwrap_or_default().chars().take(8).collect(),
            request_id: r.request_id.unwrap_or_default(),
            client_ip: r.client_ip.unwrap_or_default(),
        })
        .collect();
    let mut choices = vec![Choice { value: String::new(), label: "Every action".into(), selected: action.is_none() }];
    choices.extend(actions.iter().map(|a| Choice {
        value: a.clone(),
        label: a.replace('_', " "),
        selected: action.as_deref() == Some(a),
    }));
    let pages = u32::try_from(((total + AUDIT_PAGE_SIZE - 1) / AUDIT_PAGE_SIZE).max(1)).unwrap_or(u32::MAX);
    let link = |n: u32| {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        for (key, value) in [
            ("account", &query.account),
            ("actor", &query.actor),
            ("action", &query.action),
            ("from", &query.from),
            ("until", &query.until),
        ] {
            if let Some(v) = non_empty(value) {
                pairs.push((key, v.to_string()));
            }
        }
        pairs.push(("page", n.to_string()));
        paths::with_query(paths::DESK_AUDIT, &serde_html_form::to_string(&pairs).unwrap_or_default())
    };
    let pager = Pager {
        summary: format!("{total} entries"),
        page,
        pages,
        first: None,
        previous: (page > 1).then(|| link(page - 1)),
        next: (page < pages).then(|| link(page + 1)),
        last: None,
    };
    let filters = AuditFilters {
        account: non_empty(&query.account).unwrap_or_default().to_string(),
        actor: actor.unwrap_or_default(),
        actions: choices,
        from: non_empty(&query.from).unwrap_or_default().to_string(),
        until: non_empty(&query.until).unwrap_or_default().to_string(),
        active: filter != AuditFilter::default(),
    };
    render(
        StatusCode::OK,
        &AuditPage { layout: ctx.layout("Audit log"), action: paths::DESK_AUDIT, filters, rows, total, pager },
    )
}

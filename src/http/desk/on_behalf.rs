//! Tickets the support desk opens on a customer's behalf.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::support_only;
use crate::auth::session::{FlashLevel, new_token};
use crate::domain::input;
use crate::domain::ticket::TicketStatus;
use crate::error::AppError;
use crate::http::audit::{Actor, SecurityEvent};
use crate::http::context::PageContext;
use crate::http::respond::see_other;
use crate::http::ticket_forms::{insert_once, person_choices, recipient_ids, submission_key, validate_new_ticket};
use crate::http::uploads::{TicketForm, discard_files, receive_files};
use crate::paths;
use crate::state::AppState;
use crate::store::NewTicket;
use crate::views::new_ticket::{NewTicketPage, TicketDraft, UploadHint};
use crate::views::render;
use crate::views::widgets::Choice;

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
        upload: UploadHint::new(&state.settings.attachments.limits),
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
    TicketForm { form, files }: TicketForm<OnBehalfForm>,
) -> Result<HttpResponse, AppError> {
    let principal = support_only(&ctx, &state, &req).await?;
    let account = chosen_account(&state, Some(&form.account))
        .await?
        .ok_or_else(|| AppError::BadRequest("Choose an account.".into()))?;
    let with_files = files.as_ref().is_some_and(|f| f.has_files());
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
        discard_files(files).await;
        if with_files {
            draft.errors.push("Choose the files again: they were not kept.".into());
        }
        let page = on_behalf_page(&ctx, &state, Some(account), draft).await?;
        return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
    };
    let key = submission_key(form.submission_key.as_deref());
    let mut staged = state.files.staging();
    let attachments = receive_files(&state, files, account.0, &mut staged).await?;
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
        notify_desk: false,
    };
    let number = insert_once(&state, &ticket, &attachments, staged).await?;
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

//! What the customer's and the support desk's ticket forms share: checking and storing a new
//! ticket, recipients, one-time form keys, and recording and refusing changes.

use actix_web::HttpRequest;

use super::audit::{Actor, SecurityEvent};
use crate::domain::attachment::OverLimit;
use crate::domain::input;
use crate::domain::lifecycle::Event;
use crate::domain::principal::Principal;
use crate::domain::ticket::TicketNumber;
use crate::error::AppError;
use crate::files::Staged;
use crate::state::AppState;
use crate::store::{ChangeError, NewAttachments, NewTicket, OverQuota, PersonRef};
use crate::views::new_ticket::{PersonChoice, TicketDraft};

/// Records each history entry of a change as a security event too (label, severity, status,
/// closure, reopening), so the audit log holds them with the request id.
pub async fn record_ticket_events(
    state: &AppState,
    req: &HttpRequest,
    principal: &Principal,
    number: TicketNumber,
    account_id: Option<i64>,
    events: &[Event],
) -> Result<(), AppError> {
    // The change may have written notices; this instance's sender takes them at once.
    state.outbox.wake();
    for event in events {
        let mut actor = Actor::from(principal);
        actor.account_id = actor.account_id.or(account_id);
        let detail = match (&event.from, &event.to) {
            (Some(from), Some(to)) => format!("{from} → {to}"),
            (None, Some(to)) => to.clone(),
            (Some(from), None) => from.clone(),
            (None, None) => String::new(),
        };
        SecurityEvent::new(event.kind.audit_action(), actor)
            .target(number.to_string())
            .detail(detail)
            .record(state, req)
            .await?;
    }
    Ok(())
}

/// A control the user was never shown was used: refuse it and say so in the security log.
pub async fn forged(state: &AppState, req: &HttpRequest, principal: &Principal, what: &str) -> AppError {
    let event = SecurityEvent::new("forged_action", Actor::from(principal))
        .target(req.path().to_string())
        .detail(what.to_string());
    if let Err(error) = event.record(state, req).await {
        return error;
    }
    AppError::Forbidden("You may not do this.".into())
}

pub fn change_error(error: ChangeError, reload: String) -> AppError {
    match error {
        ChangeError::NotFound => AppError::NotFound,
        ChangeError::Stale => AppError::Conflict {
            message: "Someone changed this ticket after you loaded the page, so nothing was applied. Reload it to see the change, then try again.".into(),
            reload: Some(reload),
        },
        ChangeError::Rule(rule) => AppError::Conflict { message: rule.to_string(), reload: Some(reload) },
        ChangeError::OverQuota(over) => over_quota(over),
        ChangeError::Store(store) => store.into(),
    }
}

/// The files would take the account past its quota (found when they were linked): 413.
fn over_quota(over: OverQuota) -> AppError {
    let to_u64 = |n: i64| u64::try_from(n).unwrap_or(0);
    AppError::TooLarge(OverLimit::Quota { used: to_u64(over.used), quota: to_u64(over.quota) }.message())
}

/// A one-time form key as the form sent it; anything else is ignored (no deduplication).
pub fn submission_key(raw: Option<&str>) -> Option<String> {
    raw.filter(|k| {
        (16..=64).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
    .map(str::to_string)
}

/// Checks a new ticket's fields against the people of its account; the messages go back to the form.
pub fn validate_new_ticket(draft: &mut TicketDraft, people: &[PersonRef], opener_id: i64) -> Option<(String, String)> {
    let summary = input::summary(&draft.summary).map_err(|e| draft.errors.push(e)).ok();
    let description = input::text(&draft.description, false, "a description").map_err(|e| draft.errors.push(e)).ok();
    if draft.recipient_ids.iter().any(|id| *id == opener_id || !people.iter().any(|p| p.id == *id)) {
        draft.errors.push("Recipients must be other users of the account.".into());
    }
    draft.recipient_ids.sort_unstable();
    draft.recipient_ids.dedup();
    match (summary, description) {
        (Some(summary), Some(description)) if draft.errors.is_empty() => Some((summary, description)),
        _ => None,
    }
}

pub fn person_choices(people: Vec<PersonRef>, exclude: Option<i64>, checked: &[i64]) -> Vec<PersonChoice> {
    people
        .into_iter()
        .filter(|p| Some(p.id) != exclude)
        .map(|p| PersonChoice { checked: checked.contains(&p.id), id: p.id, name: p.name, email: p.email })
        .collect()
}

/// Recipient ids as the form sent them; anything that is not a number cannot be a recipient.
pub fn recipient_ids(raw: &[String]) -> Result<Vec<i64>, AppError> {
    raw.iter()
        .map(|id| {
            id.trim()
                .parse::<i64>()
                .map_err(|_| AppError::BadRequest("Recipients must be chosen from the list.".into()))
        })
        .collect()
}

/// Inserts a new ticket with the files uploaded with it (linked in the same transaction, then
/// settled); a second copy of the same form (a double click) finds the first, and its own files
/// are deleted with `staged`.
pub async fn insert_once(
    state: &AppState,
    ticket: &NewTicket,
    files: &NewAttachments,
    staged: Staged,
) -> Result<TicketNumber, AppError> {
    match state.store.insert_ticket_with_files(ticket, files).await {
        Ok(id) => {
            state.files.settle(staged).await;
            state.outbox.wake();
            Ok(TicketNumber::from_id(id))
        }
        Err(ChangeError::Store(crate::store::StoreError::Duplicate(_))) => {
            let key = ticket.submission_key.as_deref().unwrap_or_default();
            let id = state.store.ticket_by_submission(key).await?.ok_or(AppError::NotFound)?;
            Ok(TicketNumber::from_id(id))
        }
        Err(error) => Err(change_error(error, crate::paths::TICKETS.to_string())),
    }
}

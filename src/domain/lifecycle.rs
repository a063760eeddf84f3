//! Which changes a ticket allows, and what each one records in its history. Who may ask for a
//! change is `policy`'s question; whether the ticket's state allows it is this module's.

use super::ticket::{EventKind, Severity, TicketStatus};

/// The part of a ticket that changes move between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TicketState {
    pub status: TicketStatus,
    pub severity: Option<Severity>,
    pub closure_requested: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Label as an incident, change the severity, or (with `None`) remove the label. Support.
    SetSeverity(Option<Severity>),
    /// Between Open and Requires Attention. Support.
    SetStatus(TicketStatus),
    /// With a resolution comment. Support.
    Close,
    /// With a reason shown to the customer. Support.
    DeclineClosure,
    Reopen,
    /// A customer's comment: a ticket waiting for the customer goes back to support.
    CustomerComment,
    /// A customer asks support to close an incident (always with a comment).
    RequestClosure,
    /// A customer takes back their account's closure request: the incident waits for support's
    /// work again.
    WithdrawClosure,
}

/// A history entry a change produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    pub from: Option<String>,
    pub to: Option<String>,
}

impl Event {
    fn new(kind: EventKind, from: Option<&str>, to: Option<&str>) -> Event {
        Event { kind, from: from.map(str::to_string), to: to.map(str::to_string) }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub state: TicketState,
    pub events: Vec<Event>,
}

/// Why a change does not apply to the ticket as it is now; each becomes a 409 with the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("This ticket is closed. Reopen it first.")]
    Closed,
    #[error("This ticket is not closed.")]
    NotClosed,
    #[error("No closure has been requested for this incident.")]
    NoClosureRequested,
    #[error("Only security incidents can be asked to close this way; this ticket is not labelled as one.")]
    NotAnIncident,
    #[error("Support staff set a ticket to Open or Requires Attention; closing has its own form.")]
    StatusNotSettable,
    #[error("Nothing would change: the ticket is already like that.")]
    Unchanged,
}

fn severity_name(severity: Option<Severity>) -> Option<&'static str> {
    severity.map(Severity::name)
}

/// The state after `change`, with the events to record, or why the change does not apply.
pub fn apply(state: TicketState, change: Change) -> Result<Outcome, RuleError> {
    let mut next = state;
    let mut events = Vec::new();
    let closed = state.status == TicketStatus::Closed;
    match change {
        Change::SetSeverity(severity) => {
            if severity == state.severity {
                return Err(RuleError::Unchanged);
            }
            let kind = match (state.severity, severity) {
                (None, Some(_)) => EventKind::Labelled,
                (Some(_), None) => EventKind::Unlabelled,
                _ => EventKind::SeverityChanged,
            };
            events.push(Event::new(kind, severity_name(state.severity), severity_name(severity)));
            next.severity = severity;
            if severity.is_none() {
                // A ticket that is no longer an incident cannot be waiting to close as one.
                next.closure_requested = false;
            }
        }
        Change::SetStatus(status) => {
            if closed {
                return Err(RuleError::Closed);
            }
            if status == TicketStatus::Closed {
                return Err(RuleError::StatusNotSettable);
            }
            if status == state.status {
                return Err(RuleError::Unchanged);
            }
            events.push(Event::new(EventKind::StatusChanged, Some(state.status.name()), Some(status.name())));
            next.status = status;
        }
        Change::Close => {
            if closed {
                return Err(RuleError::Closed);
            }
            events.push(Event::new(EventKind::Closed, Some(state.status.name()), Some(TicketStatus::Closed.name())));
            next.status = TicketStatus::Closed;
            next.closure_requested = false;
        }
        Change::DeclineClosure => {
            if !state.closure_requested {
                return Err(RuleError::NoClosureRequested);
            }
            events.push(Event::new(EventKind::ClosureDeclined, None, None));
            next.closure_requested = false;
        }
        Change::Reopen => {
            if !closed {
                return Err(RuleError::NotClosed);
            }
            events.push(Event::new(
                EventKind::Reopened,
                Some(TicketStatus::Closed.name()),
                Some(TicketStatus::Open.name()),
            ));
            next.status = TicketStatus::Open;
        }
        Change::CustomerComment => {
            if state.status == TicketStatus::RequiresAttention {
                events.push(Event::new(
                    EventKind::StatusChanged,
                    Some(state.status.name()),
                    Some(TicketStatus::Open.name()),
                ));
                next.status = TicketStatus::Open;
            }
        }
        Change::RequestClosure => {
            if closed {
                return Err(RuleError::Closed);
            }
            if state.severity.is_none() {
                return Err(RuleError::NotAnIncident);
            }
            // Asking twice keeps the first request (and its time) standing.
            if !state.closure_requested {
                events.push(Event::new(EventKind::ClosureRequested, None, None));
                next.closure_requested = true;
            }
        }
        Change::WithdrawClosure => {
            if !state.closure_requested {
                return Err(RuleError::NoClosureRequested);
            }
            events.push(Event::new(EventKind::ClosureWithdrawn, None, None));
            next.closure_requested = false;
        }
    }
    Ok(Outcome { state: next, events })
}

/// A move the API offers on a ticket (`GET /tickets/{issueKeyId}/transition`): a customer's
/// closure request and its withdrawal, support's status changes. Each stands for the [`Change`]
/// it makes to the ticket as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    RequestClosure,
    WithdrawClosure,
    /// To Open: from Requires Attention, or reopening a closed ticket.
    Open,
    RequiresAttention,
    Close,
    DeclineClosure,
}

impl Transition {
    pub const ALL: [Transition; 6] = [
        Transition::RequestClosure,
        Transition::WithdrawClosure,
        Transition::Open,
        Transition::RequiresAttention,
        Transition::Close,
        Transition::DeclineClosure,
    ];

    /// The id clients send back.
    pub fn id(self) -> &'static str {
        match self {
            Transition::RequestClosure => "request_closure",
            Transition::WithdrawClosure => "withdraw_closure",
            Transition::Open => "open",
            Transition::RequiresAttention => "requires_attention",
            Transition::Close => "closed",
            Transition::DeclineClosure => "decline_closure",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Transition::RequestClosure => "Request closure",
            Transition::WithdrawClosure => "Withdraw the closure request",
            Transition::Open => "Open",
            Transition::RequiresAttention => "Requires Attention",
            Transition::Close => "Closed",
            Transition::DeclineClosure => "Decline the closure request",
        }
    }

    pub fn from_id(id: &str) -> Option<Transition> {
        Transition::ALL.into_iter().find(|t| t.id() == id)
    }

    /// Support staff's moves; the others are a customer's.
    pub fn is_support(self) -> bool {
        !matches!(self, Transition::RequestClosure | Transition::WithdrawClosure)
    }

    /// Requesting closure, closing and declining are explained in a comment, as in the portal's forms.
    pub fn needs_comment(self) -> bool {
        matches!(self, Transition::RequestClosure | Transition::Close | Transition::DeclineClosure)
    }

    /// The change this move makes to a ticket in `state`.
    pub fn change(self, state: TicketState) -> Change {
        match self {
            Transition::RequestClosure => Change::RequestClosure,
            Transition::WithdrawClosure => Change::WithdrawClosure,
            Transition::Open if state.status == TicketStatus::Closed => Change::Reopen,
            Transition::Open => Change::SetStatus(TicketStatus::Open),
            Transition::RequiresAttention => Change::SetStatus(TicketStatus::RequiresAttention),
            Transition::Close => Change::Close,
            Transition::DeclineClosure => Change::DeclineClosure,
        }
    }

    /// Whether the ticket as it is allows this move (and it would change something).
    pub fn applies_to(self, state: TicketState) -> bool {
        match apply(state, self.change(state)) {
            Ok(outcome) => outcome.state != state,
            Err(_) => false,
        }
    }
}

/// Applies several changes in order, as one submission (a comment that also asks for closure).
pub fn apply_all(state: TicketState, changes: &[Change]) -> Result<Outcome, RuleError> {
    let mut outcome = Outcome { state, events: Vec::new() };
    for change in changes {
        let step = apply(outcome.state, *change)?;
        outcome.state = step.state;
        outcome.events.extend(step.events);
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN: TicketState = TicketState { status: TicketStatus::Open, severity: None, closure_requested: false };
    const OPEN_INCIDENT: TicketState =
        TicketState { status: TicketStatus::Open, severity: Some(Severity::High), closure_requested: false };

    fn kinds(outcome: &Outcome) -> Vec<EventKind> {
        outcome.events.iter().map(|e| e.kind).collect()
    }

    #[test]
    fn labelling_changing_and_removing_severity_record_distinct_events() {
        let labelled = apply(OPEN, Change::SetSeverity(Some(Severity::Critical))).unwrap();
        assert_eq!(kinds(&labelled), vec![EventKind::Labelled]);
        assert_eq!(labelled.state.severity, Some(Severity::Critical));
        let changed = apply(labelled.state, Change::SetSeverity(Some(Severity::Low))).unwrap();
        assert_eq!(changed.events[0], Event::new(EventKind::SeverityChanged, Some("Critical"), Some("Low")));
        let removed = apply(changed.state, Change::SetSeverity(None)).unwrap();
        assert_eq!(kinds(&removed), vec![EventKind::Unlabelled]);
        assert_eq!(apply(removed.state, Change::SetSeverity(None)), Err(RuleError::Unchanged));
    }

    #[test]
    fn a_customer_comment_hands_a_ticket_back_to_support() {
        let waiting = TicketState { status: TicketStatus::RequiresAttention, ..OPEN };
        let outcome = apply(waiting, Change::CustomerComment).unwrap();
        assert_eq!(outcome.state.status, TicketStatus::Open);
        assert_eq!(kinds(&outcome), vec![EventKind::StatusChanged]);
        assert!(apply(OPEN, Change::CustomerComment).unwrap().events.is_empty());
    }

    #[test]
    fn a_customer_comment_on_a_closed_ticket_is_kept_but_does_not_reopen_it() {
        let closed = TicketState { status: TicketStatus::Closed, ..OPEN_INCIDENT };
        let outcome = apply(closed, Change::CustomerComment).unwrap();
        assert_eq!(outcome.state, closed);
    }

    #[test]
    fn closure_can_be_requested_only_for_an_open_incident() {
        let requested = apply(OPEN_INCIDENT, Change::RequestClosure).unwrap();
        assert!(requested.state.closure_requested);
        assert_eq!(apply(OPEN, Change::RequestClosure), Err(RuleError::NotAnIncident));
        let closed = TicketState { status: TicketStatus::Closed, ..OPEN_INCIDENT };
        assert_eq!(apply(closed, Change::RequestClosure), Err(RuleError::Closed));
        // Asking again keeps the first request without a second event.
        assert!(apply(requested.state, Change::RequestClosure).unwrap().events.is_empty());
    }

    #[test]
    fn declining_needs_a_request_and_clears_it() {
        assert_eq!(apply(OPEN_INCIDENT, Change::DeclineClosure), Err(RuleError::NoClosureRequested));
        let requested = TicketState { closure_requested: true, ..OPEN_INCIDENT };
        let declined = apply(requested, Change::DeclineClosure).unwrap();
        assert!(!declined.state.closure_requested);
        assert_eq!(kinds(&declined), vec![EventKind::ClosureDeclined]);
    }

    #[test]
    fn closing_clears_the_request_and_only_a_closed_ticket_reopens() {
        let requested = TicketState { closure_requested: true, ..OPEN_INCIDENT };
        let closed = apply(requested, Change::Close).unwrap();
        assert_eq!(closed.state.status, TicketStatus::Closed);
        assert!(!closed.state.closure_requested);
        assert_eq!(apply(closed.state, Change::Close), Err(RuleError::Closed));
        assert_eq!(apply(OPEN, Change::Reopen), Err(RuleError::NotClosed));
        assert_eq!(apply(closed.state, Change::Reopen).unwrap().state.status, TicketStatus::Open);
    }

    #[test]
    fn status_moves_between_the_two_open_statuses_only() {
        let waiting = apply(OPEN, Change::SetStatus(TicketStatus::RequiresAttention)).unwrap();
        assert_eq!(waiting.state.status, TicketStatus::RequiresAttention);
        assert_eq!(apply(OPEN, Change::SetStatus(TicketStatus::Closed)), Err(RuleError::StatusNotSettable));
        assert_eq!(apply(OPEN, Change::SetStatus(TicketStatus::Open)), Err(RuleError::Unchanged));
        let closed = TicketState { status: TicketStatus::Closed, ..OPEN };
        assert_eq!(apply(closed, Change::SetStatus(TicketStatus::Open)), Err(RuleError::Closed));
    }

    #[test]
    fn removing_the_label_withdraws_a_closure_request() {
        let requested = TicketState { closure_requested: true, ..OPEN_INCIDENT };
        assert!(!apply(requested, Change::SetSeverity(None)).unwrap().state.closure_requested);
    }

    #[test]
    fn a_closure_request_can_be_withdrawn_once() {
        let requested = apply(OPEN_INCIDENT, Change::RequestClosure).unwrap().state;
        let withdrawn = apply(requested, Change::WithdrawClosure).unwrap();
        assert!(!withdrawn.state.closure_requested);
        assert_eq!(withdrawn.state.status, TicketStatus::Open);
        assert_eq!(kinds(&withdrawn), vec![EventKind::ClosureWithdrawn]);
        assert_eq!(apply(withdrawn.state, Change::WithdrawClosure), Err(RuleError::NoClosureRequested));
        assert_eq!(apply(OPEN, Change::WithdrawClosure), Err(RuleError::NoClosureRequested));
    }

    #[test]
    fn transitions_apply_only_where_they_change_the_ticket() {
        let offered = |state| Transition::ALL.into_iter().filter(|t| t.applies_to(state)).collect::<Vec<_>>();
        assert_eq!(
            offered(OPEN_INCIDENT),
            vec![Transition::RequestClosure, Transition::RequiresAttention, Transition::Close]
        );
        let requested = TicketState { closure_requested: true, ..OPEN_INCIDENT };
        assert_eq!(
            offered(requested),
            vec![
                Transition::WithdrawClosure,
                Transition::RequiresAttention,
                Transition::Close,
                Transition::DeclineClosure
            ]
        );
        assert_eq!(offered(OPEN), vec![Transition::RequiresAttention, Transition::Close]);
        let closed = TicketState { status: TicketStatus::Closed, ..OPEN_INCIDENT };
        assert_eq!(offered(closed), vec![Transition::Open]);
        assert_eq!(Transition::Open.change(closed), Change::Reopen);
        let waiting = TicketState { status: TicketStatus::RequiresAttention, ..OPEN };
        assert_eq!(Transition::Open.change(waiting), Change::SetStatus(TicketStatus::Open));
        for transition in Transition::ALL {
            assert_eq!(Transition::from_id(transition.id()), Some(transition));
        }
        assert_eq!(Transition::from_id("Closed"), None, "ids are exact");
    }

    #[test]
    fn a_comment_asking_for_closure_applies_both_in_order() {
        let waiting = TicketState { status: TicketStatus::RequiresAttention, ..OPEN_INCIDENT };
        let outcome = apply_all(waiting, &[Change::CustomerComment, Change::RequestClosure]).unwrap();
        assert_eq!(outcome.state.status, TicketStatus::Open);
        assert!(outcome.state.closure_requested);
        assert_eq!(kinds(&outcome), vec![EventKind::StatusChanged, EventKind::ClosureRequested]);
    }
}

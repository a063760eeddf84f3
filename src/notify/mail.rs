//! Notification mails: built from the views for one reader, checked against what that reader may
//! see at the moment they are built, and handed to the SMTP relay.

use std::time::Duration;

use askama::Template;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use crate::auth::signer::Signer;
use crate::domain::notify::{Notice, NoticeKind};
use crate::domain::policy::{self, TicketFacts};
use crate::domain::principal::Principal;
use crate::domain::ticket::TicketNumber;
use crate::paths;
use crate::settings::{MailSettings, PublicUrl};
use crate::store::{CommentRecord, DeliveryDetail, OutboxEvent, Store, StoreResult, Target, TicketRecord};
use crate::views::format::timestamp;
use crate::views::mail::{DigestHtml, DigestText, MailFooter, NoticeHtml, NoticeText, NoticeView, subject};

/// How long a relay may take to answer before the attempt counts as failed.
const RELAY_TIMEOUT: Duration = Duration::from_secs(10);

/// A mail ready to send.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: Mailbox,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub message_id: String,
    /// The ticket's first notice, which this one answers (threading).
    pub thread: Option<String>,
    pub unsubscribe: Option<String>,
}

/// Why a delivery was not built: its reader can no longer see the ticket, or it is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unseen(pub &'static str);

/// The outcome of handing a mail to the relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    Yes,
    /// Worth trying again (a connection problem, a 4xx answer).
    Later(String),
    /// The relay refused it for good (a 5xx answer).
    Never(String),
}

/// `Auto-Submitted: auto-generated` (RFC 3834): no out-of-office replies to notifications.
#[derive(Clone)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".into())
    }
}

/// `List-Unsubscribe: <url>` with `List-Unsubscribe-Post` (RFC 8058): one click, no sign-in.
#[derive(Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribe(s.trim_matches(['<', '>']).to_string()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), format!("<{}>", self.0))
    }
}

#[derive(Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribePost)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".into())
    }
}

/// What building a mail needs besides the store.
pub struct MailContext<'a> {
    pub public_url: &'a PublicUrl,
    pub signer: &'a Signer,
    pub now: DateTime<Utc>,
}

impl MailContext<'_> {
    fn link(&self, path: &str) -> String {
        self.public_url.link(path)
    }

    /// `<notice-42@portal.example.com>`: one id per event, the same in every reader's copy.
    fn message_id(&self, what: &str) -> String {
        format!("<{what}@{}>", self.public_url.host())
    }
}

/// Who a mail is for, resolved.
enum Reader {
    User(Principal),
    Desk(Mailbox),
}

/// What every reader's mail of one event shares, read once: the ticket, who is on it, the
/// comment the notice carries (never an internal note), the names of its files (or of those the
/// ticket was opened with; never an internal note's, and never the files themselves) and the
/// ticket's first notice.
pub struct EventParts {
    ticket: TicketRecord,
    recipients: Vec<i64>,
    comment: Option<CommentRecord>,
    files: Vec<String>,
    first_notice: Option<i64>,
}

impl EventParts {
    /// `None` when the ticket is gone.
    pub async fn read(store: &Store, event: &OutboxEvent) -> StoreResult<Option<EventParts>> {
        let Some(ticket) = store.ticket(event.ticket_id).await? else { return Ok(None) };
        let readers = store.ticket_readers(ticket.id).await?;
        let recipients = readers.iter().map(|r| r.user_id).filter(|id| *id != ticket.opener_id).collect();
        let comment = match event.comment_id {
            Some(id) => store.comment(id).await?.filter(|c| !c.internal),
            None => None,
        };
        let files = match (&comment, event.kind) {
            (Some(comment), _) => store.public_attachment_names(ticket.id, Some(comment.id)).await?,
            (None, NoticeKind::TicketOpened) => store.public_attachment_names(ticket.id, None).await?,
            (None, _) => Vec::new(),
        };
        let first_notice = store.first_notice_of(ticket.id).await?;
        Ok(Some(EventParts { ticket, recipients, comment, files, first_notice }))
    }

    fn facts(&self) -> TicketFacts<'_> {
        TicketFacts {
            account_id: self.ticket.account_id,
            opener_id: self.ticket.opener_id,
            recipient_ids: &self.recipients,
        }
    }
}

/// The notice of `event` for a reader in `zone`.
fn notice_view(ctx: &MailContext<'_>, event: &OutboxEvent, parts: &EventParts, zone: Tz) -> NoticeView {
    let ticket = &parts.ticket;
    let comment = parts.comment.as_ref();
    let author = comment.map(|c| if c.author_is_support { "Armor Support".to_string() } else { c.author_name.clone() });
    let severity = ticket.severity.map(|s| s.name());
    let headline = match event.kind {
        NoticeKind::Labelled => format!("Armor Support labelled this a {} security incident", severity.unwrap_or("")),
        NoticeKind::SeverityChanged => format!("The incident's severity is now {}", severity.unwrap_or("none")),
        NoticeKind::RequiresAttention => "Armor Support is waiting for your answer".into(),
        NoticeKind::SupportComment => "Armor Support replied".into(),
        NoticeKind::ClosureDeclined => "Armor Support declined to close it yet".into(),
        NoticeKind::Closed => "Armor Support closed it".into(),
        NoticeKind::Reopened => "It is open again".into(),
        NoticeKind::TicketOpened => format!("{} opened a ticket ({})", ticket.opener_name, ticket.account_name),
        NoticeKind::CustomerComment => format!("{} replied", author.as_deref().unwrap_or("The customer")),
        NoticeKind::ClosureRequested => format!("{} asks to close it", author.as_deref().unwrap_or("The customer")),
    };
    let number = TicketNumber::from_id(ticket.id);
    NoticeView {
        headline,
        number: number.to_string(),
        summary: ticket.summary.clone(),
        severity,
        status: ticket.status.name(),
        comment: author.zip(comment.map(|c| c.body.clone())),
        files: parts.files.clone(),
        when: timestamp(event.created_at, zone),
        link: ctx.link(&paths::ticket(number)),
    }
}

/// Resolves the reader and checks, now, that they may still see the ticket.
async fn reader(store: &Store, target: &Target, parts: &EventParts) -> StoreResult<Result<Reader, Unseen>> {
    let user_id = match target {
        Target::Address(address) => {
            return Ok(address.parse().map(Reader::Desk).map_err(|_| Unseen("the desk's address is not valid")));
        }
        Target::Endpoint(_) => return Ok(Err(Unseen("not a mail"))),
        Target::User(id) => *id,
    };
    let Some(principal) = store.load_principal(user_id).await? else { return Ok(Err(Unseen("the user is disabled"))) };
    if !policy::can_see_ticket(&principal, &parts.facts()) {
        return Ok(Err(Unseen("the reader can no longer see the ticket")));
    }
    Ok(Ok(Reader::User(principal)))
}

fn mailbox(principal: &Principal) -> Result<Mailbox, Unseen> {
    let address = principal.email.parse().map_err(|_| Unseen("the user's address is not valid"))?;
    Ok(Mailbox::new(Some(principal.display_name.clone()), address))
}

fn footer(ctx: &MailContext<'_>, reader: &Reader, kind: Option<NoticeKind>) -> MailFooter {
    let settings_link = ctx.link(paths::PROFILE_NOTIFICATIONS);
    match reader {
        Reader::Desk(_) => MailFooter {
            reason: "This goes to the support desk's address (DESK_EMAIL).",
            settings_link,
            unsubscribe_link: None,
        },
        Reader::User(principal) => MailFooter {
            reason: if principal.is_support() {
                "You chose to hear of this in your notification settings."
            } else {
                "You get this because you opened this ticket or are listed as a recipient on it."
            },
            settings_link,
            unsubscribe_link: kind.map(|k| unsubscribe_link(ctx, principal.user_id, k)),
        },
    }
}

/// The one-click link that turns off `kind` for `user_id`.
pub fn unsubscribe_link(ctx: &MailContext<'_>, user_id: i64, kind: NoticeKind) -> String {
    let token = crate::auth::unsubscribe::sign(ctx.signer, user_id, kind, ctx.now);
    ctx.link(&format!("{}?token={token}", paths::UNSUBSCRIBE))
}

/// The mail of one event for one reader, or why there is none.
pub async fn notice_mail(
    store: &Store,
    ctx: &MailContext<'_>,
    event: &OutboxEvent,
    parts: &EventParts,
    target: &Target,
) -> StoreResult<Result<Mail, Unseen>> {
    let reader = match reader(store, target, parts).await? {
        Ok(reader) => reader,
        Err(unseen) => return Ok(Err(unseen)),
    };
    let (to, zone) = match &reader {
        Reader::User(principal) => match mailbox(principal) {
            Ok(to) => (to, principal.time_zone),
            Err(unseen) => return Ok(Err(unseen)),
        },
        Reader::Desk(to) => (to.clone(), chrono_tz::UTC),
    };
    let view = notice_view(ctx, event, parts, zone);
    // Closures and Critical incidents are always sent, so their mails offer no unsubscribing.
    let notice = Notice { kind: event.kind, severity: event.severity, with_comment: event.comment_id.is_some() };
    let footer = footer(ctx, &reader, Some(event.kind).filter(|_| !notice.always_sent()));
    let first = parts.first_notice.filter(|first| *first != event.id);
    Ok(Ok(Mail {
        subject: subject(&view),
        text: render(&NoticeText { notice: &view, footer: &footer }),
        html: render(&NoticeHtml { notice: &view, footer: &footer }),
        message_id: ctx.message_id(&format!("notice-{}", event.id)),
        thread: first.map(|id| ctx.message_id(&format!("notice-{id}"))),
        unsubscribe: footer.unsubscribe_link.clone(),
        to,
    }))
}

/// One mail listing a user's `events` of the day; those the user can no longer see are left out
/// (`None` when none is left).
pub async fn digest_mail(
    store: &Store,
    ctx: &MailContext<'_>,
    user_id: i64,
    events: &[OutboxEvent],
) -> StoreResult<Result<Mail, Unseen>> {
    let mut notices = Vec::new();
    let mut principal = None;
    for event in events {
        let Some(parts) = EventParts::read(store, event).await? else { continue };
        if let Ok(Reader::User(p)) = reader(store, &Target::User(user_id), &parts).await? {
            notices.push(notice_view(ctx, event, &parts, p.time_zone));
            principal = Some(p);
        }
    }
    let Some(principal) = principal else { return Ok(Err(Unseen("nothing in the digest is visible any more"))) };
    let to = match mailbox(&principal) {
        Ok(to) => to,
        Err(unseen) => return Ok(Err(unseen)),
    };
    let reader = Reader::User(principal);
    let footer = footer(ctx, &reader, None);
    let subject = format!(
        "Your security incidents and tickets today: {} change{}",
        notices.len(),
        if notices.len() == 1 { "" } else { "s" }
    );
    let first = events.iter().map(|e| e.id).min().unwrap_or_default();
    Ok(Ok(Mail {
        subject,
        text: render(&DigestText { notices: &notices, footer: &footer }),
        html: render(&DigestHtml { notices: &notices, footer: &footer }),
        message_id: ctx.message_id(&format!("digest-{user_id}-{first}")),
        thread: None,
        unsubscribe: None,
        to,
    }))
}

/// What the desk's page shows instead of a reader's one-click link, which would act for them.
pub const LINK_NOT_SHOWN: &str = "(the reader's own one-click link, not shown here)";

/// A delivery's mail as a support administrator reads it: built now, as for sending, from its
/// notice for its reader as they may see the ticket now (the ticket's current severity and status;
/// never an internal note, nothing when the reader can no longer see it). A digest's entry shows
/// alone. The reader's one-click link is left out of the text (`unsubscribe` still says whether the
/// mail offers one).
pub async fn preview(
    store: &Store,
    public_url: &PublicUrl,
    detail: &DeliveryDetail,
    now: DateTime<Utc>,
) -> StoreResult<Result<Mail, Unseen>> {
    // Signed with a key nobody holds, so that not even a copy of the page unsubscribes anyone.
    let signer = Signer::new(rand::random::<[u8; 32]>().to_vec());
    let ctx = MailContext { public_url, signer: &signer, now };
    let built = match (&detail.target, detail.record.digest) {
        (Target::User(user_id), true) => {
            digest_mail(store, &ctx, *user_id, std::slice::from_ref(&detail.event)).await?
        }
        (target, _) => match EventParts::read(store, &detail.event).await? {
            Some(parts) => notice_mail(store, &ctx, &detail.event, &parts, target).await?,
            None => Err(Unseen("the ticket is gone")),
        },
    };
    Ok(built.map(|mut mail| {
        if let Some(link) = &mail.unsubscribe {
            mail.text = mail.text.replace(link.as_str(), LINK_NOT_SHOWN);
            mail.html = mail.html.replace(link.as_str(), LINK_NOT_SHOWN);
        }
        mail
    }))
}

fn render(template: &impl Template) -> String {
    template.render().unwrap_or_else(|error| {
        tracing::error!(%error, "could not render a notification mail");
        String::new()
    })
}

/// Hands mails to the SMTP relay, or keeps them when mail is off.
#[derive(Clone)]
pub enum Mailer {
    Smtp { transport: AsyncSmtpTransport<Tokio1Executor>, from: Mailbox },
    Off,
}

impl Mailer {
    /// The relay of the settings; `from` defaults to an address at the public URL's host.
    pub fn from_settings(settings: &MailSettings, public_url: &PublicUrl) -> anyhow::Result<Mailer> {
        let Some(url) = &settings.smtp_url else { return Ok(Mailer::Off) };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
            .map_err(|e| anyhow::anyhow!("SMTP_URL (--smtp-url): {e}"))?
            .timeout(Some(RELAY_TIMEOUT))
            .build();
        let from = match &settings.from {
            Some(from) => from.clone(),
            None => format!("Incident Portal <incident-portal@{}>", public_url.host())
                .parse()
                .map_err(|e| anyhow::anyhow!("MAIL_FROM (--mail-from) is needed: {e}"))?,
        };
        Ok(Mailer::Smtp { transport, from })
    }

    pub fn is_on(&self) -> bool {
        matches!(self, Mailer::Smtp { .. })
    }

    pub async fn send(&self, mail: &Mail) -> Sent {
        let Mailer::Smtp { transport, from } = self else { return Sent::Never("mail is off".into()) };
        let mut builder = Message::builder()
            .from(from.clone())
            .to(mail.to.clone())
            .subject(mail.subject.clone())
            .message_id(Some(mail.message_id.clone()))
            .header(AutoSubmitted);
        if let Some(thread) = &mail.thread {
            builder = builder.in_reply_to(thread.clone()).references(thread.clone());
        }
        if let Some(link) = &mail.unsubscribe {
            builder = builder.header(ListUnsubscribe(link.clone())).header(ListUnsubscribePost);
        }
        let message = match builder.multipart(MultiPart::alternative_plain_html(mail.text.clone(), mail.html.clone())) {
            Ok(message) => message,
            Err(error) => return Sent::Never(format!("the mail could not be built: {error}")),
        };
        match transport.send(message).await {
            Ok(_) => Sent::Yes,
            Err(error) if error.is_permanent() => Sent::Never(error.to_string()),
            Err(error) => Sent::Later(error.to_string()),
        }
    }
}

//! A real SMTP server for the notification tests: Debian's `python3-aiosmtpd`, storing what it
//! receives in a Maildir that the tests read back.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::database::required;

/// One mail as the server received it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The addresses of `To`, lower case.
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub message_id: String,
    pub in_reply_to: Option<String>,
    pub references: Option<String>,
    /// The whole mail as sent, for checks of headers.
    pub raw: String,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<String> {
        let message = mail_parser::MessageParser::default().parse(self.raw.as_bytes())?;
        message.header_raw(name).map(|v| v.trim().to_string())
    }

    pub fn is_to(&self, email: &str) -> bool {
        self.to.iter().any(|to| to == email)
    }
}

pub struct SmtpSink {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
}

fn python() -> Option<PathBuf> {
    let python = PathBuf::from("/usr/bin/python3");
    let works = Command::new(&python)
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    works.then_some(python)
}

impl SmtpSink {
    /// A server on a free port; `None` (a skip) when aiosmtpd is not installed, unless
    /// `INCIDENT_PORTAL_TEST_REQUIRE` includes `smtp`.
    pub async fn start() -> Option<SmtpSink> {
        if python().is_none() {
            assert!(!required("smtp"), "the SMTP tests are required but python3-aiosmtpd is not installed");
            eprintln!("skipped: python3-aiosmtpd is not installed");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut sink = SmtpSink { child: None, port, dir: tempfile::tempdir().unwrap() };
        sink.resume().await;
        Some(sink)
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Starts (again) on the same port and Maildir.
    pub async fn resume(&mut self) {
        let maildir = self.dir.path().join("mail");
        let child = Command::new(python().expect("aiosmtpd"))
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{}", self.port),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd starts");
        self.child = Some(child);
        let started = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_err() {
            assert!(started.elapsed() < Duration::from_secs(10), "aiosmtpd did not start listening");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the server: the port refuses connections until [`SmtpSink::resume`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Every mail received so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        let new = self.dir.path().join("mail").join("new");
        let mut files: Vec<_> = std::fs::read_dir(&new).map(|d| d.flatten().collect()).unwrap_or_default();
        files.sort_by_key(|f| f.metadata().and_then(|m| m.modified()).ok());
        files.iter().filter_map(|f| std::fs::read(f.path()).ok()).filter_map(|raw| parse(&raw)).collect()
    }

    /// Waits until at least `n` mails arrived, then a little longer for any more.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let started = Instant::now();
        while self.received().len() < n {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "expected {n} mails, got {}: {:#?}",
                self.received().len(),
                self.received().iter().map(|m| (&m.to, &m.subject)).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.received()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}

fn parse(raw: &[u8]) -> Option<Received> {
    let message = mail_parser::MessageParser::default().parse(raw)?;
    let to = message
        .to()
        .map(|a| a.iter().filter_map(|a| a.address()).map(|a| a.to_lowercase()).collect())
        .unwrap_or_default();
    let text_of = |value: &mail_parser::HeaderValue| match value {
        mail_parser::HeaderValue::Text(t) => Some(t.to_string()),
        mail_parser::HeaderValue::TextList(list) => Some(list.join(" ")),
        _ => None,
    };
    Some(Received {
        to,
        subject: message.subject().unwrap_or_default().to_string(),
        text: message.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
        html: message.body_html(0).map(|t| t.into_owned()).unwrap_or_default(),
        message_id: message.message_id().unwrap_or_default().to_string(),
        in_reply_to: text_of(message.in_reply_to()),
        references: text_of(message.references()),
        raw: String::from_utf8_lossy(raw).into_owned(),
    })
}

//! Forms with files: `multipart/form-data` bodies built by hand (so tests choose the order of the
//! parts and can break them), and the attachments they leave in the database.

use super::app::TestApp;

/// One file of a form.
#[derive(Debug, Clone)]
pub struct FilePart {
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

pub fn file(name: &str, content_type: &str, bytes: impl Into<Vec<u8>>) -> FilePart {
    FilePart { name: name.into(), content_type: content_type.into(), bytes: bytes.into() }
}

pub const BOUNDARY: &str = "----incident-portal-test-boundary-7d3a";

/// A part of a multipart body, in the order it is sent.
pub enum Part<'a> {
    Field(&'a str, &'a str),
    File(&'a str, &'a FilePart),
}

/// The `Content-Type` header and the body of a multipart form with `parts` in order.
pub fn multipart_parts(parts: &[Part<'_>]) -> (String, Vec<u8>) {
    let mut body = Vec::new();
    for part in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        match part {
            Part::Field(name, value) => {
                body.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes());
                body.extend_from_slice(value.as_bytes());
            }
            Part::File(field, file) => {
                // As browsers send names: quotes and line breaks escaped, everything else as is.
                let name = file.name.replace('"', "%22").replace('\r', "%0D").replace('\n', "%0A");
                body.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\nContent-Type: {}\r\n\r\n",
                        file.content_type
                    )
                    .as_bytes(),
                );
                body.extend_from_slice(&file.bytes);
            }
        }
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={BOUNDARY}"), body)
}

/// Text fields first, then the files, as a browser sends the portal's forms.
pub fn multipart(fields: &[(&str, &str)], files: &[FilePart]) -> (String, Vec<u8>) {
    let mut parts: Vec<Part<'_>> = fields.iter().map(|(k, v)| Part::Field(k, v)).collect();
    parts.extend(files.iter().map(|f| Part::File("attachments", f)));
    multipart_parts(&parts)
}

/// One attachment as the database holds it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredFile {
    pub public_id: String,
    pub name: String,
    pub internal: bool,
    pub comment_id: Option<i64>,
    pub blob_id: i64,
}

impl TestApp {
    pub async fn post_multipart(
        &self,
        client: &reqwest::Client,
        path: &str,
        fields: &[(&str, &str)],
        files: &[FilePart],
    ) -> reqwest::Response {
        let (content_type, body) = multipart(fields, files);
        client
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("the request completes")
    }

    /// Posts a comment with files on a ticket's page, as its form does.
    pub async fn comment_with_files(
        &self,
        client: &reqwest::Client,
        number: &str,
        fields: &[(&str, &str)],
        files: &[FilePart],
    ) -> reqwest::Response {
        let token = self.csrf_token(client, "/account/profile").await;
        let mut all = vec![("csrf_token", token.as_str())];
        all.extend_from_slice(fields);
        self.post_multipart(client, &format!("/support/tickets/{number}/comments"), &all, files).await
    }

    /// A ticket's attachments in the order they were added.
    pub async fn stored_files(&self, ticket_id: i64) -> Vec<StoredFile> {
        self.rows(&format!(
            "SELECT public_id, name, internal, comment_id, blob_id FROM attachments WHERE ticket_id = {ticket_id} \
             ORDER BY created_at, id"
        ))
        .await
    }

    /// How many rows the attachments' tables hold: attachments, blobs, byte-store parts, unsealed
    /// uploads, listed deletions.
    pub async fn file_rows(&self) -> [i64; 5] {
        [
            self.count("SELECT COUNT(*) FROM attachments").await,
            self.count("SELECT COUNT(*) FROM blobs").await,
            self.count("SELECT COUNT(*) FROM file_chunks").await,
            self.count("SELECT COUNT(*) FROM file_uploads").await,
            self.count("SELECT COUNT(*) FROM blob_deletions").await,
        ]
    }

    /// Waits (a few seconds at most) until the attachments' tables hold `expected` rows: an
    /// upload that was not kept is deleted just after its answer.
    pub async fn wait_for_file_rows(&self, expected: [i64; 5]) {
        let started = std::time::Instant::now();
        loop {
            let rows = self.file_rows().await;
            if rows == expected {
                return;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "file rows {rows:?}, expected {expected:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

impl TestApp {
    /// A customer's client signed in as `email`, and its `Cookie` header, for requests made by
    /// hand on a raw connection.
    pub async fn sign_in_with_cookie(&self, email: &str) -> (reqwest::Client, String) {
        use reqwest::cookie::CookieStore;
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        let client = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let response = self.try_sign_in(&client, email, super::sign_in::PASSWORD).await;
        assert_eq!(response.status().as_u16(), 303, "signing in as {email}");
        let url = self.url("/").parse().unwrap();
        let cookie = jar.cookies(&url).expect("a session cookie").to_str().unwrap().to_string();
        (client, cookie)
    }
}

/// The portal's own binary serving a fresh copy of the demo data, in a process of its own, so
/// that its memory can be measured apart from the test's.
pub struct ServerProcess {
    child: std::process::Child,
    pub address: String,
    _database: super::database::TestDatabase,
}

impl ServerProcess {
    /// `None` when PostgreSQL is asked for but not available (and not required).
    pub async fn start(backend: super::database::Backend) -> Option<ServerProcess> {
        let (url, database) = super::database::create_database(backend).await?;
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_incident-portal"))
            .args(["serve", "--bind", &format!("127.0.0.1:{port}"), "--workers", "1"])
            .env("DATABASE_URL", &url)
            .env("SESSION_KEY", "a test session key that is long enough to use")
            .env("API_KEY_ENCRYPTION_KEY", super::app::CIPHER_KEY)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the portal's binary starts");
        let server = ServerProcess { child, address: format!("http://127.0.0.1:{port}"), _database: database };
        let started = std::time::Instant::now();
        while reqwest::get(format!("{}/readyz", server.address)).await.map_or(true, |r| !r.status().is_success()) {
            assert!(started.elapsed() < std::time::Duration::from_secs(60), "the portal did not start");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        Some(server)
    }

    fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{field} in /proc"))
    }

    /// The most memory the process has held (`VmHWM`) since it started or since
    /// [`ServerProcess::reset_peak`], in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        self.status_kib("VmHWM:")
    }

    /// The memory it holds now (`VmRSS`), in KiB.
    pub fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS:")
    }

    /// Makes the peak the current memory (Linux's `clear_refs`), so that what follows is measured
    /// alone: a sign-in's password hash takes more than most requests.
    pub fn reset_peak(&self) {
        std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5").expect("the peak can be reset");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

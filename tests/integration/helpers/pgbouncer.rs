//! A real PgBouncer (Debian's package, 1.18) in transaction mode in front of the test PostgreSQL:
//! started on a free port with a generated configuration, fewer server connections than the
//! portal opens, so that transactions of different clients share server connections, as they do
//! in production. PgBouncer refuses to run as root; as root it runs as `postgres`.

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::database::{postgres_admin_url, required};
use super::processes::{free_port, hand_over, unprivileged};

/// Server connections per database and user: fewer than one test app's pool (5), let alone two
/// instances'.
pub const SERVER_CONNECTIONS: u32 = 2;

pub struct PgBouncer {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

fn program() -> Option<PathBuf> {
    ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer", "/usr/local/bin/pgbouncer"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// Host and port of the test PostgreSQL, from its URL.
fn postgres_address() -> (String, u16) {
    let url = url::Url::parse(&postgres_admin_url()).expect("a valid PostgreSQL URL");
    (url.host_str().unwrap_or("127.0.0.1").to_string(), url.port().unwrap_or(5432))
}

impl PgBouncer {
    /// A PgBouncer in transaction mode in front of the test PostgreSQL; `None` (a skip) when it
    /// is not installed, unless `INCIDENT_PORTAL_TEST_REQUIRE` includes `pgbouncer`.
    pub async fn start() -> Option<PgBouncer> {
        let Some(pgbouncer) = program() else {
            assert!(!required("pgbouncer"), "the pooler tests are required but pgbouncer is not installed");
            eprintln!("skipped: PgBouncer (pgbouncer) is not installed");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        hand_over(dir.path());
        let port = free_port();
        let (host, server_port) = postgres_address();
        let users = dir.path().join("userlist.txt");
        std::fs::write(&users, "\"postgres\" \"\"\n").unwrap();
        // No `ignore_startup_parameters`: the portal must send none that PgBouncer refuses.
        let config = format!(
            "[databases]\n* = host={host} port={server_port}\n\n[pgbouncer]\nlisten_addr = 127.0.0.1\n\
             listen_port = {port}\nunix_socket_dir =\nauth_type = trust\nauth_file = {users}\n\
             pool_mode = transaction\ndefault_pool_size = {SERVER_CONNECTIONS}\nmax_client_conn = 500\n\
             logfile = {log}\npidfile = {pid}\n",
            users = users.display(),
            log = dir.path().join("pgbouncer.log").display(),
            pid = dir.path().join("pgbouncer.pid").display(),
        );
        let ini = dir.path().join("pgbouncer.ini");
        std::fs::write(&ini, config).unwrap();
        let child = unprivileged(&pgbouncer)
            .arg(&ini)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pgbouncer starts");
        let bouncer = PgBouncer { child, port, dir };
        let started = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(started.elapsed() < Duration::from_secs(20), "pgbouncer did not listen: {}", bouncer.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Some(bouncer)
    }

    /// `url` (a database of the test PostgreSQL) through this PgBouncer.
    pub fn route(&self, url: &str) -> String {
        let mut url = url::Url::parse(url).expect("a valid PostgreSQL URL");
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_port(Some(self.port)).unwrap();
        url.to_string()
    }

    /// What PgBouncer logged (its errors name the protocol misuse a client made).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pgbouncer.log")).unwrap_or_default()
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

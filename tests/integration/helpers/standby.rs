//! A real streaming replica of the test PostgreSQL: `pg_basebackup -R` of the whole cluster into
//! a temporary directory, started with Debian's `pg_ctl` on a port of its own, once per test
//! process (each test's database reaches it by replication, as production's would). The replica
//! tests take turns ([`Standby::take`]), since they pause its replay and stop it. The primary must
//! accept replication connections from 127.0.0.1 (`.ci/run` adds the line to `pg_hba.conf`).

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use sqlx::Connection;
use tokio::sync::{Mutex, MutexGuard};

use super::database::{on_own_runtime, postgres_admin_url, postgres_reachable, required};
use super::processes::{free_port, hand_over, unprivileged};

pub struct Standby {
    pub port: u16,
    bin: PathBuf,
    data: PathBuf,
    dir: PathBuf,
}

/// Debian's newest PostgreSQL binaries, where `pg_ctl` and `pg_basebackup` live.
fn binaries() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("pg_ctl").is_file() && bin.join("pg_basebackup").is_file())
        .collect();
    versions.sort_by_key(|bin| bin.parent().and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok()));
    versions.pop()
}

/// The one standby of this test process, made on first use; `None` when it cannot be made.
static STANDBY: LazyLock<Option<Standby>> = LazyLock::new(|| {
    if !postgres_reachable() {
        return None;
    }
    let Some(bin) = binaries() else {
        assert!(!required("replica"), "the replica tests are required but pg_basebackup and pg_ctl are missing");
        eprintln!("skipped: PostgreSQL's server binaries are not installed");
        return None;
    };
    let standby = on_own_runtime(async move { Standby::make(bin).await });
    if standby.is_some() {
        register_stop();
    }
    standby
});

/// Replica tests take turns: they pause the standby and stop it.
static TURN: Mutex<()> = Mutex::const_new(());

impl Standby {
    /// The standby and the turn to use it; `None` (a skip) when it cannot be made, unless
    /// `INCIDENT_PORTAL_TEST_REQUIRE` includes `replica`.
    pub async fn take() -> Option<(&'static Standby, MutexGuard<'static, ()>)> {
        let turn = TURN.lock().await;
        let standby = STANDBY.as_ref()?;
        standby.resume_replay().await;
        standby.start();
        Some((standby, turn))
    }

    async fn make(bin: PathBuf) -> Option<Standby> {
        let dir = std::env::temp_dir().join(format!("incident-portal-standby-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        hand_over(&dir);
        let data = dir.join("data");
        let admin = url::Url::parse(&postgres_admin_url()).unwrap();
        let backup = unprivileged(&bin.join("pg_basebackup"))
            .args(["-h", admin.host_str().unwrap_or("127.0.0.1")])
            .args(["-p", &admin.port().unwrap_or(5432).to_string()])
            .args(["-U", admin.username()])
            .arg("-D")
            .arg(&data)
            .args(["-X", "stream", "-R", "-c", "fast"])
            .stdout(Stdio::null())
            .output()
            .expect("pg_basebackup runs");
        if !backup.status.success() {
            let why = String::from_utf8_lossy(&backup.stderr).trim().to_string();
            assert!(
                !required("replica"),
                "the replica tests are required but pg_basebackup failed (the primary's pg_hba.conf needs \
                 `host replication all 127.0.0.1/32 trust`): {why}"
            );
            eprintln!("skipped: pg_basebackup failed: {why}");
            return None;
        }
        let port = free_port();
        // Debian keeps a cluster's configuration in /etc: the copy has none, so it gets its own.
        let config = format!(
            "port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{dir}'\nhot_standby = on\n\
             max_connections = 200\nshared_buffers = 32MB\nfsync = off\nlogging_collector = off\n",
            dir = dir.display()
        );
        std::fs::write(data.join("postgresql.conf"), config).unwrap();
        std::fs::write(data.join("pg_hba.conf"), "local all all trust\nhost all all 127.0.0.1/32 trust\n").unwrap();
        std::fs::write(data.join("pg_ident.conf"), "").unwrap();
        for file in ["postgresql.conf", "pg_hba.conf", "pg_ident.conf"] {
            hand_over(&data.join(file));
        }
        let standby = Standby { port, bin, data, dir };
        standby.start();
        Some(standby)
    }

    fn pg_ctl(&self, action: &str) -> std::process::Output {
        unprivileged(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(self.dir.join("standby.log"))
            .args(["-w", "-t", "60", "-m", "fast", action])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .expect("pg_ctl runs")
    }

    /// Starts the standby unless it runs.
    pub fn start(&self) {
        if self.pg_ctl("status").status.success() {
            return;
        }
        let started = self.pg_ctl("start");
        assert!(started.status.success(), "the standby did not start: {}", self.log());
    }

    /// Stops the standby: connections to its port are refused until [`Standby::start`].
    pub fn stop(&self) {
        self.pg_ctl("stop");
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("standby.log")).unwrap_or_default()
    }

    /// `url` (a database of the test PostgreSQL) on the standby.
    pub fn route(&self, url: &str) -> String {
        let mut url = url::Url::parse(url).expect("a valid PostgreSQL URL");
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_port(Some(self.port)).unwrap();
        url.to_string()
    }

    async fn admin(&self) -> Option<sqlx::PgConnection> {
        sqlx::PgConnection::connect(&self.route(&postgres_admin_url())).await.ok()
    }

    /// Stops applying the primary's changes: the standby stays as it is, and falls behind.
    pub async fn pause_replay(&self) {
        let mut conn = self.admin().await.expect("connect to the standby");
        sqlx::raw_sql("SELECT pg_wal_replay_pause()").execute(&mut conn).await.unwrap();
    }

    pub async fn resume_replay(&self) {
        if let Some(mut conn) = self.admin().await {
            let _ = sqlx::raw_sql("SELECT pg_wal_replay_resume()").execute(&mut conn).await;
        }
    }

    /// Waits until the standby has replayed everything the primary has written so far.
    pub async fn catch_up(&self) {
        let mut primary = sqlx::PgConnection::connect(&postgres_admin_url()).await.unwrap();
        let target: String =
            sqlx::query_scalar("SELECT pg_current_wal_lsn()::text").fetch_one(&mut primary).await.unwrap();
        let started = Instant::now();
        loop {
            if let Some(mut conn) = self.admin().await {
                let caught_up: Option<bool> = sqlx::query_scalar("SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn")
                    .bind(&target)
                    .fetch_one(&mut conn)
                    .await
                    .ok();
                if caught_up == Some(true) {
                    return;
                }
            }
            assert!(started.elapsed() < Duration::from_secs(60), "the standby did not catch up: {}", self.log());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

extern "C" fn stop_standby() {
    if let Some(standby) = STANDBY.as_ref() {
        standby.stop();
        let _ = std::fs::remove_dir_all(&standby.dir);
    }
}

fn register_stop() {
    unsafe extern "C" {
        fn atexit(callback: extern "C" fn()) -> i32;
    }
    // SAFETY: registers a plain function to run at process exit.
    unsafe {
        atexit(stop_standby);
    }
}

//! Start-up with a database out of reach: the real binary exits non-zero at once with one line
//! that names the database (never its password) and says why, once.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::*;

const PASSWORD_IN_URL: &str = "pa55-in-the-url";

/// Longer than any of these runs may take: a cause that is final must not wait for it.
const GENEROUS_TIMEOUT_SECONDS: &str = "10";

struct Outcome {
    success: bool,
    stderr: String,
    elapsed: Duration,
}

impl Outcome {
    /// The one line printed, after checking that the run failed and printed nothing else.
    fn line(&self) -> &str {
        assert!(!self.success, "the portal started: {}", self.stderr);
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line: {}", self.stderr);
        assert!(!self.stderr.contains(PASSWORD_IN_URL), "the password was printed: {}", self.stderr);
        lines[0]
    }
}

/// Runs `incident-portal <args>` with only the variables given, in a directory of its own.
fn run(args: &[&str], variables: &[(&str, &str)], user: Option<u32>) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_incident-portal"));
    command.args(args).env_clear().envs(variables.iter().copied()).current_dir(dir.path());
    command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    if let Some(id) = user {
        use std::os::unix::fs::PermissionsExt;
        use std::os::unix::process::CommandExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        command.uid(id).gid(id);
    }
    let started = Instant::now();
    let mut child = command.spawn().expect("the binary runs");
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(20) {
            child.kill().unwrap();
            panic!("the portal was still running after 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    Outcome {
        success: output.status.success(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

fn migrate(url: &str) -> Outcome {
    run(&["migrate"], &[("DATABASE_URL", url), ("DATABASE_ACQUIRE_TIMEOUT_SECONDS", GENEROUS_TIMEOUT_SECONDS)], None)
}

fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `postgres://<user>@<the test server>/<database>`.
fn postgres_url(user: &str, database: &str) -> String {
    let admin = postgres_admin_url();
    let server = admin.split('@').nth(1).and_then(|rest| rest.split('/').next()).unwrap_or("127.0.0.1:5432");
    format!("postgres://{user}@{server}/{database}")
}

fn assert_said_once(line: &str, cause: &str) {
    assert_eq!(line.matches(cause).count(), 1, "{cause:?} said once: {line}");
}

#[test]
fn a_closed_port_is_reported_at_once_as_a_refused_connection_without_the_password() {
    let port = closed_port();
    let outcome = migrate(&format!("postgres://postgres:{PASSWORD_IN_URL}@127.0.0.1:{port}/portal"));
    assert_eq!(
        outcome.line(),
        format!(
            "incident-portal: cannot connect to PostgreSQL at postgres://postgres@127.0.0.1:{port}/portal: \
             connection refused (is the server running on 127.0.0.1:{port}?)"
        )
    );
    assert!(outcome.elapsed < Duration::from_secs(5), "a refusal is final; it took {:?}", outcome.elapsed);
}

#[test]
fn every_command_that_opens_the_database_reports_it_alike() {
    let url = format!("postgres://postgres:{PASSWORD_IN_URL}@127.0.0.1:{}/portal", closed_port());
    let database = [("DATABASE_URL", url.as_str()), ("INCIDENT_PORTAL_PASSWORD", "a long enough password")];
    let mut lines = Vec::new();
    for args in [
        &["serve", "--bind", "127.0.0.1:0"][..],
        &["migrate"],
        &["generate", "--tickets", "10"],
        &["create-support-user", "--email", "new.agent@support.example", "--name", "New Agent"],
    ] {
        let outcome = run(args, &database, None);
        lines.push(outcome.line().to_string());
    }
    assert!(lines[0].contains("connection refused"), "{}", lines[0]);
    assert!(lines.iter().all(|line| *line == lines[0]), "{lines:#?}");
}

#[test]
fn a_server_that_never_answers_is_given_up_after_the_acquire_timeout() {
    // Bound but never accepting: the kernel completes the handshake and the server says nothing.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/portal");
    let outcome = run(&["migrate"], &[("DATABASE_URL", &url), ("DATABASE_ACQUIRE_TIMEOUT_SECONDS", "1")], None);
    assert_eq!(
        outcome.line(),
        format!(
            "incident-portal: cannot connect to PostgreSQL at {url}: \
             no answer within 1 s (DATABASE_ACQUIRE_TIMEOUT_SECONDS)"
        )
    );
    assert!(outcome.elapsed < Duration::from_secs(4), "it took {:?}", outcome.elapsed);
}

#[test]
fn an_unknown_host_is_named_within_the_acquire_timeout() {
    let outcome = run(
        &["migrate"],
        &[
            ("DATABASE_URL", &format!("postgres://postgres:{PASSWORD_IN_URL}@nonexistent.invalid/portal")),
            ("DATABASE_ACQUIRE_TIMEOUT_SECONDS", "2"),
        ],
        None,
    );
    let line = outcome.line();
    let expected = "incident-portal: cannot connect to PostgreSQL at postgres://postgres@nonexistent.invalid:5432/portal: \
                    unknown host nonexistent.invalid (";
    assert!(line.starts_with(expected), "{line}");
    assert_said_once(line, "nonexistent.invalid (");
    assert!(outcome.elapsed < Duration::from_secs(5), "it took {:?}", outcome.elapsed);
}

#[test]
fn a_database_that_does_not_exist_is_named() {
    if !postgres_reachable() {
        return;
    }
    let outcome = migrate(&postgres_url(&format!("postgres:{PASSWORD_IN_URL}"), "ip_no_such_database"));
    let line = outcome.line();
    assert_eq!(
        line,
        format!(
            "incident-portal: cannot connect to PostgreSQL at {}: the database \"ip_no_such_database\" does not exist",
            postgres_url("postgres", "ip_no_such_database")
        )
    );
    assert!(outcome.elapsed < Duration::from_secs(5), "a missing database is final; it took {:?}", outcome.elapsed);
}

#[test]
fn an_unknown_role_is_reported_as_an_authentication_failure() {
    if !postgres_reachable() {
        return;
    }
    let outcome = migrate(&postgres_url(&format!("ip_no_such_role:{PASSWORD_IN_URL}"), "postgres"));
    let line = outcome.line();
    assert!(
        line.starts_with(&format!(
            "incident-portal: cannot connect to PostgreSQL at {}: authentication failed: ",
            postgres_url("ip_no_such_role", "postgres")
        )),
        "{line}"
    );
    assert_said_once(line, "authentication failed");
    assert_said_once(line, "\"ip_no_such_role\"");
    assert!(outcome.elapsed < Duration::from_secs(5), "it took {:?}", outcome.elapsed);
}

#[test]
fn a_sqlite_file_in_a_missing_directory_says_the_directory_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("missing").join("portal.db");
    let outcome = migrate(&format!("sqlite://{}", file.display()));
    assert_eq!(
        outcome.line(),
        format!(
            "incident-portal: cannot open the SQLite database {}: the directory {} does not exist",
            file.display(),
            dir.path().join("missing").display()
        )
    );
}

/// Runs as `nobody` when the tests run as root, whom no permission bits stop.
fn unprivileged() -> Option<u32> {
    // SAFETY: geteuid has no preconditions.
    (unsafe { libc::geteuid() } == 0).then_some(65534)
}

/// A directory `nobody` may enter; `mode` for the one inside it that holds the database.
fn shared_directory(mode: u32) -> (tempfile::TempDir, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let inner = dir.path().join("data");
    std::fs::create_dir(&inner).unwrap();
    std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(mode)).unwrap();
    (dir, inner)
}

#[test]
fn a_sqlite_file_in_a_directory_that_is_not_writable_says_so() {
    let (_dir, locked) = shared_directory(0o555);
    let file = locked.join("portal.db");
    let outcome = run(&["migrate"], &[("DATABASE_URL", &format!("sqlite://{}", file.display()))], unprivileged());
    assert_eq!(
        outcome.line(),
        format!(
            "incident-portal: cannot open the SQLite database {}: the directory {} is not writable",
            file.display(),
            locked.display()
        )
    );
}

#[test]
fn a_sqlite_file_that_is_not_writable_says_so() {
    use std::os::unix::fs::PermissionsExt;
    let (_dir, open) = shared_directory(0o777);
    let file = open.join("portal.db");
    std::fs::write(&file, "").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o444)).unwrap();
    let outcome = run(&["migrate"], &[("DATABASE_URL", &format!("sqlite://{}", file.display()))], unprivileged());
    assert_eq!(
        outcome.line(),
        format!("incident-portal: cannot open the SQLite database {}: the file is not writable", file.display())
    );
}

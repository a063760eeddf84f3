//! Server processes the tests start themselves (PgBouncer, a PostgreSQL standby): on a free port,
//! in a directory of their own, as a user they accept (both refuse to run as root).

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The user to run a server process as: ourselves, or `postgres` when we are root.
pub fn unprivileged_user() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions; getpwnam returns a static record or null.
    unsafe {
        if libc::geteuid() != 0 {
            return None;
        }
        let record = libc::getpwnam(c"postgres".as_ptr());
        assert!(!record.is_null(), "running as root, and there is no postgres user to run the server as");
        Some(((*record).pw_uid, (*record).pw_gid))
    }
}

/// A command run as [`unprivileged_user`] (the process itself, so that killing it kills the server).
pub fn unprivileged(program: &Path) -> Command {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(program);
    if let Some((uid, gid)) = unprivileged_user() {
        command.uid(uid).gid(gid);
    }
    command
}

/// Hands a directory we made to the user a server runs as.
pub fn hand_over(dir: &Path) {
    if let Some((uid, gid)) = unprivileged_user() {
        std::os::unix::fs::chown(dir, Some(uid), Some(gid)).expect("chown the server's directory");
    }
}

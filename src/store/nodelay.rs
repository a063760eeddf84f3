//! sqlx 0.9 leaves Nagle's algorithm on for its PostgreSQL connections (libpq turns it off), and
//! sqlx writes a statement that carries a large value (an attachment's part) as one message of
//! several TCP segments: its last, short segment then waits for the server's delayed
//! acknowledgement, about 40 ms a statement. Each new connection finds its own socket among the
//! process's descriptors by the local port the server reports, and turns `TCP_NODELAY` on.

use super::statement;

/// Turns `TCP_NODELAY` on for this process's TCP sockets whose local port is `port` (the new
/// connection's; another socket with the same port elsewhere would only send sooner too).
#[cfg(target_os = "linux")]
pub(super) fn no_delay_on_local_port(port: u16) {
    let Ok(descriptors) = std::fs::read_dir("/proc/self/fd") else { return };
    for entry in descriptors.flatten() {
        let Some(fd) = entry.file_name().to_str().and_then(|name| name.parse::<libc::c_int>().ok()) else { continue };
        // SAFETY: `getsockname` writes at most `len` bytes into `address`, a zeroed
        // `sockaddr_storage` large enough for any address; on a descriptor that is not a socket
        // (or was closed meanwhile) it fails and nothing is read.
        let mut address: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        let found = unsafe { libc::getsockname(fd, (&raw mut address).cast::<libc::sockaddr>(), &mut len) } == 0;
        if !found {
            continue;
        }
        let local_port = match libc::c_int::from(address.ss_family) {
            // SAFETY: the family says which address `getsockname` wrote.
            libc::AF_INET => unsafe { (*(&raw const address).cast::<libc::sockaddr_in>()).sin_port },
            libc::AF_INET6 => unsafe { (*(&raw const address).cast::<libc::sockaddr_in6>()).sin6_port },
            _ => continue,
        };
        if u16::from_be(local_port) == port {
            let on: libc::c_int = 1;
            // SAFETY: sets one integer option on a TCP socket; failure leaves it as it was.
            unsafe {
                libc::setsockopt(
                    fd,
                    libc::IPPROTO_TCP,
                    libc::TCP_NODELAY,
                    (&raw const on).cast::<libc::c_void>(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
pub(super) fn no_delay_on_local_port(_port: u16) {}

/// After a PostgreSQL connection is made: asks the server for the connection's local port (none
/// over a Unix socket, which has no Nagle) and turns `TCP_NODELAY` on for it.
pub(super) async fn after_connect(conn: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
    let port: Option<i32> = statement::query_scalar("SELECT inet_client_port()").fetch_one(conn).await?;
    if let Some(port) = port.and_then(|p| u16::try_from(p).ok()) {
        no_delay_on_local_port(port);
    }
    Ok(())
}

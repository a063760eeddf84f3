//! sqlx 0.9 leaves Nagle's algorithm on for its PostgreSQL connections (libpq turns it off), and
//! sqlx writes a statement that carries a large value (an attachment's part) as one message of
//! several TCP segments: its last, short segment then waits for the server's delayed
//! acknowledgement, about 40 ms a statement. Each new connection finds its own socket among the
//! process's descriptors by the local port the server reports, and turns `TCP_NODELAY` on. Behind
//! a pooler the server reports the pooler's port, so every socket to the pooler's port is meant
//! (they are all the pool's, and turning it on twice changes nothing).

use super::pooler::Pooler;
use super::statement;

/// Which of the process's sockets a new connection is.
#[derive(Debug, Clone, Copy)]
pub(super) enum Socket {
    /// The one with this local port (another socket with the same port elsewhere would only send
    /// sooner too).
    Local(u16),
    /// Those connected to this port.
    Peer(u16),
}

/// Turns `TCP_NODELAY` on for this process's TCP sockets that `which` names.
#[cfg(target_os = "linux")]
pub(super) fn no_delay_on(which: Socket) {
    type AddressOf = unsafe extern "C" fn(libc::c_int, *mut libc::sockaddr, *mut libc::socklen_t) -> libc::c_int;
    let (read, port): (AddressOf, u16) = match which {
        Socket::Local(port) => (libc::getsockname, port),
        Socket::Peer(port) => (libc::getpeername, port),
    };
    let Ok(descriptors) = std::fs::read_dir("/proc/self/fd") else { return };
    for entry in descriptors.flatten() {
        let Some(fd) = entry.file_name().to_str().and_then(|name| name.parse::<libc::c_int>().ok()) else { continue };
        // SAFETY: `getsockname` and `getpeername` write at most `len` bytes into `address`, a
        // zeroed `sockaddr_storage` large enough for any address; on a descriptor that is not a
        // socket (or was closed meanwhile, or is not connected) they fail and nothing is read.
        let mut address: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        let found = unsafe { read(fd, (&raw mut address).cast::<libc::sockaddr>(), &mut len) } == 0;
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
pub(super) fn no_delay_on(_which: Socket) {}

/// After a PostgreSQL connection is made: asks the server for the connection's local port (none
/// over a Unix socket, which has no Nagle) and turns `TCP_NODELAY` on for it; behind a pooler
/// (whose port the server would report), for every socket to `port`, the pooler's.
pub(super) async fn after_connect(conn: &mut sqlx::PgConnection, pooler: Pooler, port: u16) -> Result<(), sqlx::Error> {
    if pooler == Pooler::Transaction {
        no_delay_on(Socket::Peer(port));
        return Ok(());
    }
    let port: Option<i32> = statement::query_scalar("SELECT inet_client_port()").fetch_one(conn).await?;
    if let Some(port) = port.and_then(|p| u16::try_from(p).ok()) {
        no_delay_on(Socket::Local(port));
    }
    Ok(())
}

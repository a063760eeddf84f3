//! A real ClamAV daemon for the virus-scanning tests: Debian's `clamav-daemon`, started on a
//! socket of its own with a one-signature database for the EICAR test file (made with
//! `sigtool --md5`), so it needs no signature download and starts in seconds.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::database::required;

/// The EICAR anti-virus test file: harmless, and detected as a virus by every scanner.
pub const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

pub struct ClamAv {
    child: Option<Child>,
    clamd: PathBuf,
    config: PathBuf,
    pub socket: PathBuf,
    _dir: tempfile::TempDir,
}

fn program(name: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"]
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
}

impl ClamAv {
    /// A daemon on a new socket; `None` (a skip) when ClamAV is not installed, unless
    /// `INCIDENT_PORTAL_TEST_REQUIRE` includes `clamav`.
    pub async fn start() -> Option<ClamAv> {
        let (Some(clamd), Some(sigtool)) = (program("clamd"), program("sigtool")) else {
            assert!(!required("clamav"), "the virus-scanning tests are required but clamd or sigtool is missing");
            eprintln!("skipped: ClamAV (clamav-daemon) is not installed");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("db");
        std::fs::create_dir(&database).unwrap();
        let sample = dir.path().join("Eicar-Test-Signature");
        std::fs::write(&sample, EICAR).unwrap();
        let signature = Command::new(sigtool).arg("--md5").arg(&sample).output().expect("sigtool runs");
        assert!(signature.status.success(), "sigtool --md5 failed");
        let line = String::from_utf8(signature.stdout).unwrap();
        // `md5:size:path`: the name is the file's, as given.
        let line = line.trim().replace(&sample.display().to_string(), "Eicar-Test-Signature");
        std::fs::write(database.join("test.hdb"), format!("{line}\n")).unwrap();
        let socket = dir.path().join("clamd.sock");
        let config = dir.path().join("clamd.conf");
        std::fs::write(
            &config,
            format!(
                "Foreground yes\nDatabaseDirectory {}\nLocalSocket {}\nPidFile {}\nStreamMaxLength 64M\n",
                database.display(),
                socket.display(),
                dir.path().join("clamd.pid").display()
            ),
        )
        .unwrap();
        let mut clamav = ClamAv { child: None, clamd, config, socket, _dir: dir };
        clamav.resume().await;
        Some(clamav)
    }

    /// Starts the daemon (again) on the same socket.
    pub async fn resume(&mut self) {
        let _ = std::fs::remove_file(&self.socket);
        let child = Command::new(&self.clamd)
            .arg("-c")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("clamd starts");
        self.child = Some(child);
        let started = Instant::now();
        while tokio::net::UnixStream::connect(&self.socket).await.is_err() {
            assert!(started.elapsed() < Duration::from_secs(60), "clamd did not start listening");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Kills the daemon: its socket refuses connections until [`ClamAv::resume`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ClamAv {
    fn drop(&mut self) {
        self.stop();
    }
}

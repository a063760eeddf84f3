//! Attachments' limits and the optional virus scanner.

use std::path::PathBuf;

use super::{SettingError, bad};
use crate::domain::attachment::{Limits, MIB, WhenScannerDown};

#[derive(Debug, Clone, Default)]
pub struct AttachmentSettings {
    pub limits: Limits,
    /// Unset: files are not scanned.
    pub scanner: Option<ScannerSettings>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannerSettings {
    pub address: ScannerAddress,
    pub when_down: WhenScannerDown,
}

/// Where a ClamAV daemon (`clamd`) listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScannerAddress {
    Unix(PathBuf),
    Tcp(String),
}

impl std::fmt::Display for ScannerAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScannerAddress::Unix(path) => write!(f, "unix:{}", path.display()),
            ScannerAddress::Tcp(address) => write!(f, "tcp://{address}"),
        }
    }
}

impl std::fmt::Display for AttachmentSettings {
    /// For the start-up line: the limits, and whether and where files are scanned.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let limits = &self.limits;
        write!(
            f,
            "up to {} files of {} each, {} an account",
            limits.max_files,
            crate::domain::attachment::size_text(limits.max_file_bytes),
            crate::domain::attachment::size_text(limits.account_quota_bytes)
        )?;
        match &self.scanner {
            None => write!(f, "; not virus-scanned (CLAMAV_ADDRESS is unset)"),
            Some(scanner) => write!(
                f,
                "; virus-scanned by clamd at {}, {} while it is down",
                scanner.address,
                match scanner.when_down {
                    WhenScannerDown::Hold => "held",
                    WhenScannerDown::Allow => "allowed unscanned",
                }
            ),
        }
    }
}

/// `25MiB`, `512KiB`, `2GiB`, `1048576` (bytes); `K`, `M`, `G` and `KB`, `MB`, `GB` mean the same
/// binary units.
pub fn parse_size(value: &str) -> Option<u64> {
    let value = value.trim();
    let split = value.find(|c: char| !c.is_ascii_digit()).unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: u64 = number.parse().ok()?;
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => MIB,
        "g" | "gb" | "gib" => 1024 * MIB,
        _ => return None,
    };
    number.checked_mul(factor)
}

fn size(value: &str, range: std::ops::RangeInclusive<u64>, id: &str) -> Result<u64, SettingError> {
    parse_size(value).filter(|n| range.contains(n)).ok_or_else(|| {
        bad(id, format!("\"{value}\" is not a size from {} to {} such as 25MiB", range.start(), range.end()))
    })
}

fn scanner_address(value: &str) -> Result<ScannerAddress, SettingError> {
    let problem = || {
        bad(
            "clamav_address",
            format!("\"{value}\" is not unix:/path/to/clamd.sock, a socket's absolute path, or tcp://host:port"),
        )
    };
    let value = value.trim();
    let path = value
        .strip_prefix("unix://")
        .or_else(|| value.strip_prefix("unix:"))
        .or(value.starts_with('/').then_some(value));
    if let Some(path) = path {
        return if path.starts_with('/') { Ok(ScannerAddress::Unix(PathBuf::from(path))) } else { Err(problem()) };
    }
    let address = value.strip_prefix("tcp://").unwrap_or(value);
    match address.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) && !host.contains('/') => {
            Ok(ScannerAddress::Tcp(address.to_string()))
        }
        _ => Err(problem()),
    }
}

pub fn attachment_settings(
    max_file_size: &str,
    max_files: &str,
    quota: &str,
    clamav_address: Option<&str>,
    when_down: &str,
) -> Result<AttachmentSettings, SettingError> {
    let max_file_bytes = size(max_file_size, 1..=4 * 1024 * MIB, "attachment_max_file_size")?;
    let max_files = super::parse_number(max_files, 1..=100, "attachment_max_files")? as usize;
    let account_quota_bytes = size(quota, 1..=u64::from(u32::MAX) * MIB, "attachment_account_quota")?;
    let when_down = match when_down.trim().to_ascii_lowercase().as_str() {
        "hold" => WhenScannerDown::Hold,
        "allow" => WhenScannerDown::Allow,
        _ => return Err(bad("clamav_when_down", format!("\"{when_down}\" is not hold or allow"))),
    };
    let scanner = match clamav_address.map(str::trim).filter(|v| !v.is_empty()) {
        None => None,
        Some(address) => Some(ScannerSettings { address: scanner_address(address)?, when_down }),
    };
    Ok(AttachmentSettings { limits: Limits { max_file_bytes, max_files, account_quota_bytes }, scanner })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(parse_size("25MiB"), Some(25 * MIB));
        assert_eq!(parse_size("25 MB"), Some(25 * MIB));
        assert_eq!(parse_size("512k"), Some(512 * 1024));
        assert_eq!(parse_size("2GiB"), Some(2048 * MIB));
        assert_eq!(parse_size("1000"), Some(1000));
        for bad in ["", "MiB", "-1MiB", "1.5MiB", "25 parsecs", "99999999999999999999GiB"] {
            assert_eq!(parse_size(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_start_up_line_tells_the_limits_and_the_scanner() {
        let plain = attachment_settings("25MiB", "10", "2GiB", None, "hold").unwrap();
        assert_eq!(
            plain.to_string(),
            "up to 10 files of 25 MB each, 2 GB an account; not virus-scanned (CLAMAV_ADDRESS is unset)"
        );
        let scanned = attachment_settings("1MiB", "3", "1GiB", Some("unix:/run/clamav/clamd.ctl"), "allow").unwrap();
        assert!(
            scanned.to_string().ends_with("clamd at unix:/run/clamav/clamd.ctl, allowed unscanned while it is down")
        );
        let error = attachment_settings("25MiB", "10", "2GiB", None, "maybe").unwrap_err().to_string();
        assert!(error.starts_with("CLAMAV_WHEN_DOWN (--clamav-when-down):"), "{error}");
        let error = attachment_settings("25 parsecs", "10", "2GiB", None, "hold").unwrap_err().to_string();
        assert!(error.starts_with("ATTACHMENT_MAX_FILE_SIZE (--attachment-max-file-size):"), "{error}");
    }

    #[test]
    fn the_scanner_is_a_unix_socket_or_a_tcp_address() {
        let unix = ScannerAddress::Unix(PathBuf::from("/run/clamav/clamd.ctl"));
        assert_eq!(scanner_address("unix:/run/clamav/clamd.ctl").unwrap(), unix);
        assert_eq!(scanner_address("unix:///run/clamav/clamd.ctl").unwrap(), unix);
        assert_eq!(scanner_address("/run/clamav/clamd.ctl").unwrap(), unix);
        assert_eq!(scanner_address("tcp://clamav:3310").unwrap(), ScannerAddress::Tcp("clamav:3310".into()));
        assert_eq!(scanner_address("127.0.0.1:3310").unwrap(), ScannerAddress::Tcp("127.0.0.1:3310".into()));
        for bad in ["unix:relative.sock", "clamav", "clamav:0", "tcp://:3310", "http://clamav:3310/x"] {
            let error = scanner_address(bad).unwrap_err().to_string();
            assert!(error.starts_with("CLAMAV_ADDRESS (--clamav-address):"), "{bad}: {error}");
        }
    }
}

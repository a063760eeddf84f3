//! Attachments' rules, free of HTTP and SQL: what a file may be called in a page or a header, what
//! type it may be served as, where a virus scan leaves it, and the limits an upload meets.

use std::fmt::Write;

/// The most characters a cleaned name keeps (an extension is kept whole).
pub const MAX_NAME_CHARS: usize = 180;
/// The name of a file whose own name cleans away to nothing.
pub const FALLBACK_NAME: &str = "attachment";
/// What an id in an address looks like: 16 random bytes, URL-safe base64 without padding.
pub const PUBLIC_ID_LEN: usize = 22;

/// Where a virus scan leaves a file. Stored by code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanState {
    /// No scanner was configured when it was uploaded.
    NotScanned,
    /// Waiting for the scanner.
    Pending,
    Clean,
    /// The scanner found something (the signature is kept beside the state).
    Infected,
    /// The scanner could not be reached and the setting says to allow files meanwhile; it is
    /// tried again later.
    Unchecked,
}

impl ScanState {
    pub fn code(self) -> &'static str {
        match self {
            ScanState::NotScanned => "none",
            ScanState::Pending => "pending",
            ScanState::Clean => "clean",
            ScanState::Infected => "infected",
            ScanState::Unchecked => "unchecked",
        }
    }

    pub fn from_code(code: &str) -> Option<ScanState> {
        [ScanState::NotScanned, ScanState::Pending, ScanState::Clean, ScanState::Infected, ScanState::Unchecked]
            .into_iter()
            .find(|s| s.code() == code)
    }
}

/// What to do with uploads while the virus scanner cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenScannerDown {
    /// Keep them from customers until a scan says they are clean (the default).
    Hold,
    /// Let them be downloaded unscanned, and scan them when the scanner is back.
    Allow,
}

/// Where a failed scan leaves a file.
pub fn after_failed_scan(when_down: WhenScannerDown) -> ScanState {
    match when_down {
        WhenScannerDown::Hold => ScanState::Pending,
        WhenScannerDown::Allow => ScanState::Unchecked,
    }
}

/// The limits an upload meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// One file's most bytes.
    pub max_file_bytes: u64,
    /// The most files one comment (or new ticket) carries.
    pub max_files: usize,
    /// An account's most bytes of attachments, each stored file counted once.
    pub account_quota_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_file_bytes: 25 * MIB, max_files: 10, account_quota_bytes: 2 * 1024 * MIB }
    }
}

impl Limits {
    /// The largest request body an upload form may send: every file at its largest, and room
    /// for the form's fields and the multipart framing.
    pub fn max_request_bytes(&self) -> u64 {
        self.max_file_bytes.saturating_mul(self.max_files as u64).saturating_add(MIB)
    }
}

pub const MIB: u64 = 1024 * 1024;

/// Why an upload is refused (413), in words for the person who sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OverLimit {
    Request { limits: Limits },
    File { name: String, limits: Limits },
    Count { limits: Limits },
    Quota { used: u64, quota: u64 },
    Fields,
}

impl OverLimit {
    pub fn message(&self) -> String {
        match self {
            OverLimit::Request { limits } => format!(
                "This upload is larger than the portal accepts: at most {} files of {} each.",
                limits.max_files,
                size_text(limits.max_file_bytes)
            ),
            OverLimit::File { name, limits } => {
                format!(
                    "{name} is larger than {}, the most one file may be. Nothing was stored.",
                    size_text(limits.max_file_bytes)
                )
            }
            OverLimit::Count { limits } => {
                format!("At most {} files can be attached at once. Nothing was stored.", limits.max_files)
            }
            OverLimit::Quota { used, quota } => format!(
                "Your account's attachments would exceed its quota of {} ({} are used). Nothing was stored; \
                 your account administrator can see the usage under Account › Users.",
                size_text(*quota),
                size_text(*used)
            ),
            OverLimit::Fields => "The form's text fields are too large.".to_string(),
        }
    }
}

/// `1.5 MB`-style sizes for people (binary units, as the limits are).
pub fn size_text(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1024 {
        return format!("{bytes} {}", if bytes == 1 { "byte" } else { "bytes" });
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value >= 100.0 || value.fract() < 0.05 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Characters a file name never keeps: controls (NUL, CR, LF, …), and the invisible formatting
/// ones that can disguise it, such as the right-to-left override (`exe.txt` shown as `txt.exe`).
fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00ad}' | '\u{034f}' | '\u{061c}' | '\u{115f}' | '\u{1160}' | '\u{17b4}' | '\u{17b5}'
            | '\u{180b}'..='\u{180f}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}' | '\u{3164}' | '\u{fe00}'..='\u{fe0f}' | '\u{feff}' | '\u{ffa0}'
            | '\u{fff0}'..='\u{fffb}' | '\u{e0000}'..='\u{e0fff}')
}

/// Names Windows reserves for devices: a file saved under one cannot be opened there.
const RESERVED: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9", "LPT1", "LPT2",
    "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// A file name as the portal shows it and sends it: the last part of any path the browser sent,
/// without control or invisible formatting characters, with quotes and characters file systems
/// reserve replaced, without `..` or leading and trailing dots and spaces, at most
/// [`MAX_NAME_CHARS`] characters (keeping the extension), never empty and never a device name.
/// It is only ever shown and put in headers (escaped there): it never names a file on disk.
pub fn clean_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let mut name: String = last
        .chars()
        .filter(|c| !is_invisible(*c))
        .map(|c| if matches!(c, '"' | '\'' | '`' | '<' | '>' | ':' | '|' | '?' | '*') { '_' } else { c })
        .collect();
    while name.contains("..") {
        name = name.replace("..", ".");
    }
    let mut name = name.trim_matches(|c: char| c == '.' || c.is_whitespace()).to_string();
    if name.chars().count() > MAX_NAME_CHARS {
        let (stem, extension) = match name.rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() && ext.chars().count() <= 16 => (stem.to_string(), format!(".{ext}")),
            _ => (name.clone(), String::new()),
        };
        let keep = MAX_NAME_CHARS - extension.chars().count();
        name = stem.chars().take(keep).collect::<String>().trim_end().to_string() + &extension;
    }
    if name.is_empty() {
        return FALLBACK_NAME.to_string();
    }
    let stem = name.split('.').next().unwrap_or_default().trim();
    if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(stem)) {
        name.insert(0, '_');
    }
    name
}

/// RFC 5987's `attr-char`: what `filename*` may carry unencoded.
fn is_attr_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b)
}

/// `Content-Disposition` for a download (RFC 6266): always `attachment`, with a plain ASCII
/// `filename` (letters, digits, `-`, `_`, `.`; anything else `_`) for old clients and the exact
/// name in `filename*` (UTF-8, percent-encoded, RFC 5987).
pub fn content_disposition(name: &str) -> String {
    let name = clean_name(name);
    let ascii: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' }).collect();
    let mut encoded = String::with_capacity(name.len() * 3);
    for b in name.bytes() {
        if is_attr_char(b) {
            encoded.push(b as char);
        } else {
            let _ = write!(encoded, "%{b:02X}");
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// Types a download may carry as they are: none of them is rendered as a document by a browser,
/// and every download is an attachment under a sandboxing policy besides.
const SERVABLE: [&str; 24] = [
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/bmp",
    "image/tiff",
    "application/pdf",
    "application/zip",
    "application/gzip",
    "application/x-gzip",
    "application/x-tar",
    "application/x-bzip2",
    "application/x-xz",
    "application/x-7z-compressed",
    "application/x-rar-compressed",
    "application/vnd.tcpdump.pcap",
    "application/json",
    "application/vnd.ms-excel",
    "application/msword",
    "application/vnd.ms-powerpoint",
    "text/plain",
    "text/csv",
    "audio/mpeg",
    "video/mp4",
];

/// The `Content-Type` a download goes out with: the type detected from the bytes, else the one
/// the uploader declared, if it is one of a short list of types no browser renders as a page;
/// anything else (HTML, SVG, XHTML, XML, scripts, any type naming them, anything unknown or
/// malformed) is `application/octet-stream`. Parameters (a declared `charset`) are dropped.
pub fn served_type(detected: Option<&str>, declared: Option<&str>) -> &'static str {
    let essence = |raw: &str| raw.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let chosen = match detected {
        Some(detected) => essence(detected),
        None => declared.map(essence).unwrap_or_default(),
    };
    SERVABLE.iter().find(|t| **t == chosen).copied().unwrap_or("application/octet-stream")
}

/// Images the server re-encodes into a preview; everything else is only a download.
pub fn previewable(detected: Option<&str>) -> bool {
    matches!(detected, Some("image/png" | "image/jpeg" | "image/gif" | "image/webp"))
}

/// The type shown beside a file: the detected one, else the declared one (if it looks like a
/// type at all), else "unknown type".
pub fn shown_type(detected: Option<&str>, declared: Option<&str>) -> String {
    let looks_like_type = |t: &&str| {
        let t = t.split(';').next().unwrap_or_default().trim();
        t.len() <= 100
            && t.split_once('/').is_some_and(|(a, b)| {
                !a.is_empty() && !b.is_empty() && t.bytes().all(|c| c.is_ascii_alphanumeric() || b"/.+-_".contains(&c))
            })
    };
    match detected.or(declared.filter(looks_like_type)) {
        Some(t) => t.split(';').next().unwrap_or_default().trim().to_ascii_lowercase(),
        None => "unknown type".into(),
    }
}

/// An attachment id as an address carries it; anything else cannot be one (404).
pub fn parse_public_id(raw: &str) -> Option<&str> {
    (raw.len() == PUBLIC_ID_LEN && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        .then_some(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_are_cleaned_for_pages_and_headers() {
        let cases = [
            ("report.pdf", "report.pdf"),
            ("../../etc/passwd", "passwd"),
            ("..\\..\\windows\\system32\\cmd.exe", "cmd.exe"),
            ("C:\\Users\\tess\\Desktop\\capture.pcap", "capture.pcap"),
            ("..", FALLBACK_NAME),
            ("...", FALLBACK_NAME),
            ("", FALLBACK_NAME),
            ("/", FALLBACK_NAME),
            ("a..b.txt", "a.b.txt"),
            (".htaccess", "htaccess"),
            ("name.\u{0}.txt", "name.txt"),
            ("line\r\nSet-Cookie: a=b.txt", "lineSet-Cookie_ a=b.txt"),
            ("\"quoted\".txt", "_quoted_.txt"),
            ("it's.txt", "it_s.txt"),
            ("invoice\u{202e}fdp.exe", "invoicefdp.exe"),
            ("zero\u{200b}width\u{feff}.png", "zerowidth.png"),
            ("tab\tand\u{7f}del\u{9b}.log", "tabanddel.log"),
            // The slash of `</script>` is a path separator: only what follows it is kept.
            ("<script>alert(1)</script>.html", "script_.html"),
            ("CON.txt", "_CON.txt"),
            ("nul", "_nul"),
            ("  spaced  .txt  ", "spaced  .txt"),
            ("Bericht über Vorfälle.pdf", "Bericht über Vorfälle.pdf"),
            ("事件报告.txt", "事件报告.txt"),
        ];
        for (raw, expected) in cases {
            let cleaned = clean_name(raw);
            assert_eq!(cleaned, expected, "{raw:?}");
            assert!(!cleaned.chars().any(|c| c.is_control() || is_invisible(c)), "{raw:?} → {cleaned:?}");
            assert!(!cleaned.contains(['/', '\\', '"']) && !cleaned.contains(".."), "{raw:?} → {cleaned:?}");
        }
    }

    #[test]
    fn a_long_name_keeps_its_extension() {
        let cleaned = clean_name(&format!("{}.pcapng", "x".repeat(500)));
        assert_eq!(cleaned.chars().count(), MAX_NAME_CHARS);
        assert!(cleaned.ends_with("x.pcapng"), "{cleaned}");
        let cleaned = clean_name(&"é".repeat(500));
        assert_eq!(cleaned.chars().count(), MAX_NAME_CHARS);
    }

    #[test]
    fn the_disposition_is_always_an_attachment_with_an_ascii_name_and_the_exact_one_encoded() {
        assert_eq!(
            content_disposition("report.pdf"),
            "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
        );
        assert_eq!(
            content_disposition("Bericht über \"x\";.pdf"),
            "attachment; filename=\"Bericht__ber__x__.pdf\"; filename*=UTF-8''Bericht%20%C3%BCber%20_x_%3B.pdf"
        );
        for hostile in ["a\r\nX-Evil: 1", "a\"; filename=evil.html", "%0d%0a.txt", "\u{202e}lmth.txt", "../x"] {
            let header = content_disposition(hostile);
            assert!(header.starts_with("attachment; filename=\""), "{header}");
            assert!(header.bytes().all(|b| b.is_ascii_graphic() || b == b' '), "{hostile:?}: {header}");
            let (_, encoded) = header.split_once("filename*=UTF-8''").unwrap();
            assert!(encoded.bytes().all(|b| is_attr_char(b) || b == b'%'), "{hostile:?}: {header}");
            assert_eq!(header.matches("filename=").count(), 1, "{hostile:?}: {header}");
        }
    }

    #[test]
    fn markup_is_never_served_as_markup() {
        for (detected, declared) in [
            (None, Some("text/html")),
            (None, Some("TEXT/HTML; x")),
            (None, Some("text/html;charset=utf-8")),
            (None, Some("image/svg+xml")),
            (None, Some("IMAGE/SVG+XML")),
            (None, Some("application/xhtml+xml")),
            (None, Some("application/xml")),
            (None, Some("text/xml")),
            (None, Some("text/xsl")),
            (None, Some("application/javascript")),
            (None, Some("text/javascript")),
            (None, Some("multipart/x-mixed-replace; boundary=x")),
            (None, Some("text/plain\r\nContent-Type: text/html")),
            (None, Some("text/plain, text/html")),
            (None, Some("")),
            (None, Some("not a type")),
            (None, None),
            (Some("application/xml"), Some("text/plain")),
            (Some("text/html"), Some("image/png")),
            (Some("application/x-executable"), Some("text/plain")),
        ] {
            assert_eq!(served_type(detected, declared), "application/octet-stream", "{detected:?} {declared:?}");
        }
        assert_eq!(served_type(Some("image/png"), Some("text/html")), "image/png");
        assert_eq!(served_type(None, Some("text/plain; charset=utf-7")), "text/plain");
        assert_eq!(served_type(None, Some("Application/PDF")), "application/pdf");
    }

    #[test]
    fn only_the_four_image_types_get_previews() {
        for t in ["image/png", "image/jpeg", "image/gif", "image/webp"] {
            assert!(previewable(Some(t)));
        }
        for t in [Some("image/svg+xml"), Some("image/bmp"), Some("text/html"), None] {
            assert!(!previewable(t), "{t:?}");
        }
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(size_text(0), "0 bytes");
        assert_eq!(size_text(1), "1 byte");
        assert_eq!(size_text(1023), "1023 bytes");
        assert_eq!(size_text(1024), "1 KB");
        assert_eq!(size_text(1536), "1.5 KB");
        assert_eq!(size_text(25 * MIB), "25 MB");
        assert_eq!(size_text(2 * 1024 * MIB), "2 GB");
    }

    #[test]
    fn scan_states_round_trip_and_a_down_scanner_holds_or_allows() {
        for s in
            [ScanState::NotScanned, ScanState::Pending, ScanState::Clean, ScanState::Infected, ScanState::Unchecked]
        {
            assert_eq!(ScanState::from_code(s.code()), Some(s));
        }
        assert_eq!(ScanState::from_code("other"), None);
        assert_eq!(after_failed_scan(WhenScannerDown::Hold), ScanState::Pending);
        assert_eq!(after_failed_scan(WhenScannerDown::Allow), ScanState::Unchecked);
    }

    #[test]
    fn only_well_formed_ids_are_looked_up() {
        assert!(parse_public_id("AAAAAAAAAAAAAAAAAAAAAA").is_some());
        assert!(parse_public_id("AAAAAAAAAAAAAAAAAAAAA").is_none());
        assert!(parse_public_id("AAAAAAAAAAAAAAAAAAAA/A").is_none());
        assert!(parse_public_id("1").is_none());
    }
}

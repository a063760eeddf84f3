//! Fuzzing the forms that take files with broken `multipart/form-data` bodies: truncated, with
//! huge or countless part headers, missing or wrong boundaries, many parts, flipped bytes, bare
//! line feeds, odd names, nested parts, random bytes. Every answer is 2xx, 3xx or 4xx, never 5xx;
//! the server stays healthy; and no upload is left half-written in the byte store.

use futures_util::StreamExt;

use crate::helpers::*;
use crate::on_both_backends;

/// Generated bodies per database; `MULTIPART_FUZZ_CASES` raises it for a longer run.
fn cases() -> usize {
    std::env::var("MULTIPART_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000)
}

fn adjust(settings: &mut incident_portal::settings::Settings) {
    crate::attachments::adjust(settings);
}

/// The ways a body is broken; each case takes one.
const MUTATIONS: usize = 18;

struct Target {
    path: String,
    client: reqwest::Client,
    fields: Vec<(String, String)>,
}

/// A small deterministic generator (xorshift64*): the same seed gives the same bodies.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `range`.
    fn random_range(&mut self, range: impl std::ops::RangeBounds<usize>) -> usize {
        use std::ops::Bound;
        let start = match range.start_bound() {
            Bound::Included(n) => *n,
            Bound::Excluded(n) => n + 1,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(n) => n + 1,
            Bound::Excluded(n) => *n,
            Bound::Unbounded => usize::MAX,
        };
        if end <= start { start } else { start + (self.next() % (end - start) as u64) as usize }
    }

    fn random_bool(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64) / ((1u64 << 53) as f64) < p
    }

    fn byte(&mut self) -> u8 {
        (self.next() >> 56) as u8
    }
}

fn random_bytes(rng: &mut Rng, n: usize) -> Vec<u8> {
    (0..n).map(|_| rng.byte()).collect()
}

fn part_header(name: &str, filename: Option<&[u8]>, extra: &[u8]) -> Vec<u8> {
    let mut header = format!("Content-Disposition: form-data; name=\"{name}\"").into_bytes();
    if let Some(filename) = filename {
        header.extend_from_slice(b"; filename=\"");
        header.extend_from_slice(filename);
        header.extend_from_slice(b"\"\r\nContent-Type: application/octet-stream");
    }
    header.extend_from_slice(b"\r\n");
    header.extend_from_slice(extra);
    header
}

/// One generated request: its `Content-Type` and body.
fn generate(rng: &mut Rng, fields: &[(String, String)]) -> (String, Vec<u8>, usize) {
    let mutation = rng.random_range(0..MUTATIONS);
    let boundary = BOUNDARY;
    let mut parts: Vec<(Vec<u8>, Vec<u8>)> =
        fields.iter().map(|(k, v)| (part_header(k, None, b""), v.clone().into_bytes())).collect();
    let file_count = rng.random_range(0..3);
    for i in 0..file_count {
        let size = rng.random_range(0..20_000);
        parts.push((part_header("attachments", Some(format!("f{i}.bin").as_bytes()), b""), random_bytes(rng, size)));
    }
    let mut content_type = format!("multipart/form-data; boundary={boundary}");
    match mutation {
        2 => {
            // A huge header line in one part.
            let n = rng.random_range(1_000..200_000);
            let i = rng.random_range(0..parts.len());
            parts[i].0.extend_from_slice(format!("X-Pad: {}\r\n", "p".repeat(n)).as_bytes());
        }
        3 => {
            // Countless header lines in one part.
            let n = rng.random_range(20..200);
            let i = rng.random_range(0..parts.len());
            for h in 0..n {
                parts[i].0.extend_from_slice(format!("X-H{h}: v\r\n").as_bytes());
            }
        }
        4 => content_type = "multipart/form-data".to_string(),
        5 => content_type = "multipart/form-data; boundary=not-the-one".to_string(),
        6 => content_type = format!("multipart/form-data; boundary=\"{}\"", "b".repeat(rng.random_range(0..300))),
        7 => {
            // Many parts: hundreds of fields, or more files than allowed.
            if rng.random_bool(0.5) {
                for i in 0..rng.random_range(100..400) {
                    parts.insert(1, (part_header(&format!("f{i}"), None, b""), b"v".to_vec()));
                }
            } else {
                for i in 0..rng.random_range(4..30) {
                    parts.push((part_header("attachments", Some(format!("m{i}").as_bytes()), b""), b"m".to_vec()));
                }
            }
        }
        10 => {
            // A part without Content-Disposition, or without a name.
            let i = rng.random_range(0..parts.len());
            parts[i].0 = if rng.random_bool(0.5) {
                b"X-Other: 1\r\n".to_vec()
            } else {
                b"Content-Disposition: form-data\r\n".to_vec()
            };
        }
        11 => {
            // Odd file names: invalid UTF-8, very long, RFC 5987, separators and controls.
            let names: [Vec<u8>; 5] = [
                vec![0xff, 0xfe, b'.', b'b', b'i', b'n'],
                "n".repeat(rng.random_range(200..20_000)).into_bytes(),
                b"x\"; filename*=UTF-8''%E2%80%AEevil.exe".to_vec(),
                b"../../..\\\\..\\\\etc/passwd".to_vec(),
                b"a\x01\x02\x1b[31m.txt".to_vec(),
            ];
            let name = names[rng.random_range(0..names.len())].clone();
            parts.push((part_header("attachments", Some(&name), b""), b"named".to_vec()));
        }
        13 => parts.clear(),
        14 => {
            // A nested multipart part.
            let nested = b"Content-Disposition: form-data; name=\"attachments\"; filename=\"n\"\r\nContent-Type: multipart/mixed; boundary=inner\r\n".to_vec();
            parts.push((nested, b"--inner\r\n\r\nx\r\n--inner--".to_vec()));
        }
        15 => {
            // The token after the files.
            let token = parts.remove(0);
            parts.push(token);
        }
        16 => {
            // A text field larger than forms may send.
            let n = rng.random_range(60_000..300_000);
            parts.insert(1, (part_header("body", None, b""), vec![b'a'; n]));
        }
        _ => {}
    }
    let mut body = Vec::new();
    if mutation == 12 {
        // A preamble, and the boundary inside a part's data.
        body.extend_from_slice(b"preamble that is not a part\r\n");
        if let Some(last) = parts.last_mut() {
            last.1.extend_from_slice(format!("x--{boundary}y").as_bytes());
        }
    }
    for (header, data) in &parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        body.extend_from_slice(header);
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    if mutation != 8 || rng.random_bool(0.5) {
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    }
    match mutation {
        1 => body.truncate(rng.random_range(0..=body.len())),
        8 => {
            // Flipped bytes, anywhere.
            for _ in 0..rng.random_range(1..20) {
                if !body.is_empty() {
                    let i = rng.random_range(0..body.len());
                    body[i] = rng.byte();
                }
            }
        }
        9 => body = String::from_utf8_lossy(&body).replace("\r\n", "\n").into_bytes(),
        17 => {
            let n = rng.random_range(0..50_000);
            body = random_bytes(rng, n);
        }
        _ => {}
    }
    (content_type, body, mutation)
}

async fn no_broken_multipart_body_gets_a_5xx_or_leaves_an_upload_behind(app: TestApp) {
    let ticket = app.fresh_incident().await;
    let tess = app.sign_in(TESS).await;
    let sam = app.sign_in(SAM).await;
    let tess_token = app.csrf_token(&tess, "/account/profile").await;
    let sam_token = app.csrf_token(&sam, "/account/profile").await;
    let tess_id = app.user_id(TESS).await.to_string();
    let pairs = |fields: &[(&str, &str)]| fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let targets = [
        Target {
            path: format!("/support/tickets/{}/comments", ticket.number),
            client: tess.clone(),
            fields: pairs(&[("csrf_token", &tess_token), ("body", "fuzz")]),
        },
        Target {
            path: "/support/tickets".into(),
            client: tess.clone(),
            fields: pairs(&[("csrf_token", &tess_token), ("summary", "Fuzzed"), ("description", "x")]),
        },
        Target {
            path: "/desk/tickets".into(),
            client: sam.clone(),
            fields: pairs(&[
                ("csrf_token", &sam_token),
                ("account", "100234"),
                ("opener_id", &tess_id),
                ("summary", "Fuzzed for a customer"),
                ("description", "x"),
            ]),
        },
    ];
    let mut rng = Rng(0x05EE_D0FF_11E5);
    let targets_fields: Vec<Vec<(String, String)>> = targets.iter().map(|t| t.fields.clone()).collect();
    let total = cases();
    // Made one at a time as the stream asks, so the large ones do not pile up in memory.
    let requests = (0..total).map(move |_| {
        let target = rng.random_range(0..3);
        let (content_type, body, mutation) = generate(&mut rng, &targets_fields[target]);
        (target, content_type, body, mutation)
    });
    let failures: Vec<String> = futures_util::stream::iter(requests)
        .map(|(target, content_type, body, mutation)| {
            let (app, target) = (&app, &targets[target]);
            async move {
                let response = target
                    .client
                    .post(app.url(&target.path))
                    .header("content-type", content_type)
                    .body(body)
                    .send()
                    .await;
                match response {
                    Ok(response) if response.status().as_u16() >= 500 => {
                        let status = response.status().as_u16();
                        let text: String = response.text().await.unwrap_or_default().chars().take(300).collect();
                        Some(format!("mutation {mutation} on {}: {status} {text}", target.path))
                    }
                    Ok(_) => None,
                    // The server may answer 413 and hang up before a huge body is all sent.
                    Err(error) if mutation == 2 || mutation == 16 || mutation == 7 => {
                        let _ = error;
                        None
                    }
                    Err(error) => Some(format!("mutation {mutation} on {}: no answer: {error}", target.path)),
                }
            }
        })
        .buffer_unordered(4)
        .filter_map(|failure| async move { failure })
        .collect()
        .await;
    assert!(failures.is_empty(), "{} of {total} bodies failed:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(app.get(&client(), "/healthz").await.status().as_u16(), 200, "the server is healthy afterwards");
    assert_eq!(app.get(&client(), "/readyz").await.status().as_u16(), 200, "and its database too");
    // Whatever was refused was deleted; whatever was kept is linked and sealed.
    let started = std::time::Instant::now();
    while app.count("SELECT COUNT(*) FROM file_uploads").await > 0
        || app.count("SELECT COUNT(*) FROM blob_deletions").await > 0
    {
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "uploads were left unsealed or undeleted");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let orphans = app
        .count(
            "SELECT COUNT(*) FROM (SELECT DISTINCT object_key FROM file_chunks) c \
             WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.object_key = c.object_key)",
        )
        .await;
    assert_eq!(orphans, 0, "bytes that no blob names");
}

on_both_backends!(configured by adjust; no_broken_multipart_body_gets_a_5xx_or_leaves_an_upload_behind);

"""The attachments part of the benchmark (imported by run.py).

On a throwaway copy of the 10,000-ticket data set, the server pinned to one core with one worker
(as for the other routes) and this harness on the other core:

* uploading a 10 MiB file (a comment's form, multipart, each upload new bytes so that none is
  stored once already) and downloading it: MiB per second, the median of the repetitions, with
  the server's CPU time per MiB;
* a ticket's page with 20 attachments (five comments carrying four files each, a quarter of them
  images with previews) against the same page without files (five comments, no files): requests
  per second with wrk;
* the server's peak memory during a 25 MiB upload, above what it held just before (its peak is
  reset first through /proc/<pid>/clear_refs, so a sign-in's password hash does not hide it).
"""

import http.client
import os
import re
import shutil
import statistics
import time
import urllib.parse
from pathlib import Path

MIB = 1024 * 1024
UPLOAD_MIB = 10
MEMORY_MIB = 25
FILES_ON_PAGE = 20
BOUNDARY = "----incident-portal-bench-boundary"


class Database:
    """The throwaway copy of the data set (a SQLite file with its sidecars, or a PostgreSQL
    database made from the data set as a template)."""

    def __init__(self, bench, backend, source_url):
        self.bench, self.backend = bench, backend
        if backend == "sqlite":
            source = Path(source_url.removeprefix("sqlite://"))
            self.path = bench.DATA / "sqlite-attachments.db"
            self.remove()
            for suffix in ("", "-calls", "-files"):
                if Path(f"{source}{suffix}").exists():
                    shutil.copy(f"{source}{suffix}", f"{self.path}{suffix}")
            self.url = f"sqlite://{self.path}"
        else:
            template = source_url.rsplit("/", 1)[1]
            self.name = "incident_portal_bench_attachments"
            bench.psql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            bench.psql(f'CREATE DATABASE "{self.name}" TEMPLATE "{template}"')
            self.url = bench.PG_ADMIN.rsplit("/", 1)[0] + "/" + self.name

    def remove(self):
        for suffix in ("", "-wal", "-shm", "-calls", "-calls-wal", "-calls-shm", "-files", "-files-wal", "-files-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def drop(self):
        if self.backend == "postgres":
            self.bench.psql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        else:
            self.remove()


def multipart(fields, files):
    """A multipart/form-data body: the fields first (the CSRF token among them), then the files."""
    body = bytearray()
    for name, value in fields:
        body += f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        body += value.encode() + b"\r\n"
    for name, content_type, data in files:
        body += (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="attachments"; filename="{name}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        body += data + b"\r\n"
    body += f"--{BOUNDARY}--\r\n".encode()
    return f"multipart/form-data; boundary={BOUNDARY}", bytes(body)


def post(base, path, cookie, content_type, body):
    """A POST on a connection of its own; the status and how long until its answer's end."""
    host = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=300)
    started = time.perf_counter()
    conn.request("POST", path, body=body, headers={"Cookie": cookie, "Content-Type": content_type})
    response = conn.getresponse()
    response.read()
    elapsed = time.perf_counter() - started
    conn.close()
    return response.status, response.getheader("Location"), elapsed


def get(base, path, cookie):
    """A GET read to its end on a connection of its own; the status, the size and the time."""
    host = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=300)
    started = time.perf_counter()
    conn.request("GET", path, headers={"Cookie": cookie})
    response = conn.getresponse()
    size = 0
    while chunk := response.read(1024 * 1024):
        size += len(chunk)
    elapsed = time.perf_counter() - started
    conn.close()
    return response.status, size, elapsed


def open_ticket(client, summary):
    """A new ticket of the signed-in user's (no recipients); its number."""
    token = client.csrf("/support/tickets/new")
    body = urllib.parse.urlencode([("csrf_token", token), ("summary", summary), ("description", "benchmark")]).encode()
    try:
        client.opener.open(client.base + "/support/tickets", body, timeout=60)
    except urllib.error.HTTPError as error:
        if error.code != 303:
            raise
        return error.headers["Location"].rsplit("/", 1)[1]
    raise RuntimeError("opening a ticket did not redirect")


def comment(base, cookie, token, number, text, files):
    content_type, body = multipart([("csrf_token", token), ("body", text)], files)
    status, _, elapsed = post(base, f"/support/tickets/{number}/comments", cookie, content_type, body)
    if status != 303:
        raise RuntimeError(f"a comment with {len(files)} files answered {status}")
    return elapsed


def attachment_links(client, number):
    _, page = client.request(f"/support/tickets/{number}")
    return re.findall(rf'href="(/support/tickets/{number}/attachments/[A-Za-z0-9_-]{{22}})"', page)


def tiny_png(seed):
    """A valid 1×1 PNG, different for each seed (so that none is stored once already)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    pixel = bytes([0, seed % 256, (seed // 256) % 256, 200])
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(pixel))
        + chunk(b"IEND", b"")
    )


def reset_peak(pid):
    """Makes the process's peak memory its current memory; False where Linux does not allow it."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def measure(bench, backend, source_url, args, workdir):
    db = Database(bench, backend, source_url)
    server = bench.Server(db.url, f"{backend}-attachments")
    affinity = os.sched_getaffinity(0)
    try:
        # The harness on core 0, as wrk is; the server has core 1 to itself.
        os.sched_setaffinity(0, {0})
        client = bench.Client(server.base)
        client.sign_in(bench.TYPICAL)
        cookie = f"incident-portal={client.cookie()}"
        token = client.csrf("/account/profile")
        pid = server.process.pid

        # Upload and download a 10 MiB file, new bytes each time.
        number = open_ticket(client, "Uploads")
        comment(server.base, cookie, token, number, "warm-up", [("warm-up.bin", "application/octet-stream", os.urandom(MIB))])
        uploads, downloads, upload_cpu, download_cpu = [], [], [], []
        for rep in range(max(args.reps, 3)):
            data = os.urandom(UPLOAD_MIB * MIB)
            content_type, body = multipart([("csrf_token", token), ("body", f"upload {rep}")], [(f"capture-{rep}.pcap", "application/vnd.tcpdump.pcap", data)])
            before = bench.cpu_ticks(pid)
            status, _, elapsed = post(server.base, f"/support/tickets/{number}/comments", cookie, content_type, body)
            upload_cpu.append((bench.cpu_ticks(pid) - before) / bench.CLOCK_TICKS)
            if status != 303:
                raise RuntimeError(f"a {UPLOAD_MIB} MiB upload answered {status}")
            uploads.append(UPLOAD_MIB / elapsed)
            link = attachment_links(client, number)[-1]
            before = bench.cpu_ticks(pid)
            status, size, elapsed = get(server.base, link, cookie)
            download_cpu.append((bench.cpu_ticks(pid) - before) / bench.CLOCK_TICKS)
            if status != 200 or size != len(data):
                raise RuntimeError(f"a download answered {status} with {size} bytes")
            downloads.append(UPLOAD_MIB / elapsed)

        # The same ticket page with 20 files and without.
        with_files, without = open_ticket(client, "Twenty files"), open_ticket(client, "No files")
        for n in range(5):
            files = []
            for k in range(FILES_ON_PAGE // 5):
                seed = n * 10 + k
                if k == 0:
                    files.append((f"screenshot-{seed}.png", "image/png", tiny_png(seed)))
                else:
                    files.append((f"evidence-{seed}.log", "text/plain", f"log line {seed}\n".encode() * 50))
            comment(server.base, cookie, token, with_files, f"Comment {n} with files", files)
            comment(server.base, cookie, token, without, f"Comment {n} with files", [])
        routes = {
            "ticket page, 20 attachments": {"name": "attachments-20", "mode": "plain", "path": f"/support/tickets/{with_files}", "cookie": cookie},
            "ticket page, no attachments": {"name": "attachments-0", "mode": "plain", "path": f"/support/tickets/{without}", "cookie": cookie},
        }
        for route in routes.values():
            bench.wrk(server.base, route, args.warmup, args.connections, workdir)
        pages = []
        for _ in range(args.reps):
            results = {}
            for name, route in routes.items():
                before = bench.cpu_ticks(pid)
                result = bench.wrk(server.base, route, args.duration, args.connections, workdir)
                used = bench.cpu_ticks(pid) - before
                result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
                result["cpu_us_per_request"] = used / bench.CLOCK_TICKS * 1e6 / max(result["requests"], 1)
                results[name] = result
            pages.append(results)

        # Peak memory during a 25 MiB upload, above what the server held just before it.
        data = os.urandom(MEMORY_MIB * MIB)
        content_type, body = multipart([("csrf_token", token), ("body", "memory")], [("memory.bin", "application/octet-stream", data)])
        reset = reset_peak(pid)
        before = rss_kib(pid) if reset else 0
        status, _, _ = post(server.base, f"/support/tickets/{number}/comments", cookie, content_type, body)
        if status != 303:
            raise RuntimeError(f"a {MEMORY_MIB} MiB upload answered {status}")
        peak = bench.peak_rss_kib(pid)
    finally:
        os.sched_setaffinity(0, affinity)
        server.stop()
        db.drop()
    summary = {}
    for name in pages[0]:
        values = [rep[name] for rep in pages]
        summary[name] = {key: statistics.median(v[key] for v in values) for key in ("rps", "p50_us", "p99_us", "cpu_us_per_request")}
        summary[name]["non_2xx"] = sum(v["errors_status"] + v["errors_other"] for v in values)
    return {
        "backend": backend,
        "upload_mib_per_s": statistics.median(uploads),
        "download_mib_per_s": statistics.median(downloads),
        "upload_cpu_s_per_mib": statistics.median(upload_cpu) / UPLOAD_MIB,
        "download_cpu_s_per_mib": statistics.median(download_cpu) / UPLOAD_MIB,
        "uploads": uploads,
        "downloads": downloads,
        "pages": summary,
        "memory": {"reset": reset, "before_kib": before, "peak_kib": peak, "raised_kib": peak - before if reset else None},
        "repetitions": pages,
    }


def report(results):
    lines = [
        "## Attachments",
        "",
        f"On a copy of the 10,000-ticket data set, the server as above (one worker, pinned to core 1) and the harness "
        f"on core 0. A {UPLOAD_MIB} MiB file is uploaded with a comment (`multipart/form-data`, new random bytes each "
        f"time, so none is stored once already) and downloaded again; the medians of the repetitions, in MiB per second "
        f"of wall time and the server's CPU seconds per MiB. The ticket page with {FILES_ON_PAGE} attachments (five comments "
        "with four files each, one an image with a preview) is measured against the same page whose five comments carry "
        f"no files. Memory: the server's peak during a {MEMORY_MIB} MiB upload above what it held just before (the peak "
        "reset through `/proc/<pid>/clear_refs`).",
        "",
        "| backend | upload MiB/s | download MiB/s | CPU s/MiB up / down | page, 20 files (req/s) | page, no files (req/s) | ratio | 25 MiB upload: peak above before |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        with_files, without = r["pages"]["ticket page, 20 attachments"], r["pages"]["ticket page, no attachments"]
        ratio = with_files["rps"] / without["rps"] if without["rps"] else 0
        memory = r["memory"]
        raised = f"{memory['raised_kib'] / 1024:.1f} MiB" if memory["raised_kib"] is not None else f"peak {memory['peak_kib'] / 1024:.1f} MiB (no reset)"
        lines.append(
            f"| {r['backend']} | {r['upload_mib_per_s']:.1f} | {r['download_mib_per_s']:.1f} | "
            f"{r['upload_cpu_s_per_mib']:.3f} / {r['download_cpu_s_per_mib']:.3f} | {with_files['rps']:,.0f} | "
            f"{without['rps']:,.0f} | {100 * ratio:.0f}% | {raised} |"
        )
    lines.append("")
    return lines

"""The notification part of the benchmark (imported by run.py).

On a throwaway copy of the 10,000-ticket data set, with the portal mailing a local SMTP server
(aiosmtpd's Sink, pinned with the load generator to core 0):

* a support reply on a ticket with 20 recipients, who all want mail, against the same reply on a
  ticket whose 21 people turned its notifications off ("Don't notify me"): requests per second;
* the sender draining 10,000 queued mails (500 replies to 20 recipients each) into the relay, with
  nothing else to do: mails per second on the server's one core;
* the server's peak memory afterwards.
"""

import base64
import hashlib
import hmac
import re
import shutil
import sqlite3
import statistics
import struct
import subprocess
import time
import urllib.parse
from pathlib import Path

RECIPIENTS = 20
DRAIN_REPLIES = 500
SUPPORT = "support@bench.example"


def totp(secret_base32, at=None):
    """RFC 6238: six digits, 30-second steps, HMAC-SHA1 (as authenticator apps do)."""
    key = base64.b32decode(secret_base32.replace(" ", "").upper() + "=" * (-len(secret_base32.replace(" ", "")) % 8))
    counter = int((at or time.time()) // 30)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    code = (struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{code:06d}"


class Database:
    """The throwaway copy, for the few statements the harness runs itself."""

    def __init__(self, bench, backend, source_url):
        self.bench, self.backend = bench, backend
        if backend == "sqlite":
            source = Path(source_url.removeprefix("sqlite://"))
            self.path = bench.DATA / "sqlite-notifications.db"
            for suffix in ("", "-wal", "-shm", "-calls", "-calls-wal", "-calls-shm", "-files", "-files-wal", "-files-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            for suffix in ("", "-calls"):
                if Path(f"{source}{suffix}").exists():
                    shutil.copy(f"{source}{suffix}", f"{self.path}{suffix}")
            self.url = f"sqlite://{self.path}"
        else:
            template = source_url.rsplit("/", 1)[1]
            self.name = "incident_portal_bench_notifications"
            bench.psql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            bench.psql(f'CREATE DATABASE "{self.name}" TEMPLATE "{template}"')
            self.url = bench.PG_ADMIN.rsplit("/", 1)[0] + "/" + self.name

    def scalar(self, sql):
        if self.backend == "sqlite":
            with sqlite3.connect(self.path, timeout=30) as conn:
                return conn.execute(sql).fetchone()[0]
        return int(self.bench.psql(sql, self.name).strip() or 0)

    def execute(self, sql):
        if self.backend == "sqlite":
            with sqlite3.connect(self.path, timeout=30) as conn:
                conn.execute(sql)
        else:
            self.bench.psql(sql, self.name)

    def waiting(self):
        return self.scalar(
            "SELECT (SELECT COUNT(*) FROM notification_events WHERE expanded_at IS NULL) + "
            "(SELECT COUNT(*) FROM notification_deliveries WHERE state = 'pending')"
        )

    def drop(self):
        if self.backend == "postgres":
            self.bench.psql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def sign_in_support(bench, base):
    """Support staff set up two-factor sign-in at their first sign-in; the harness does it too."""
    client = bench.Client(base)
    client.sign_in(SUPPORT)
    _, page = client.request("/account/profile/two-factor")
    secret = re.search(r'id="totp-secret">([^<]+)<', page).group(1)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    status, _ = client.request("/account/profile/two-factor", {"csrf_token": token, "code": totp(secret)})
    if status != 200:
        raise RuntimeError(f"two-factor set-up answered {status}")
    return client


def open_ticket(bench, typical, summary):
    """A ticket of the typical user's with 20 recipients; its number."""
    _, form = typical.request("/support/tickets/new")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    people = re.findall(r'name="recipient" value="(\d+)"', form)[:RECIPIENTS]
    if len(people) < RECIPIENTS:
        raise RuntimeError(f"the typical user's account has only {len(people)} other users")
    fields = [("csrf_token", token), ("summary", summary), ("description", "benchmark")]
    fields += [("recipient", p) for p in people]
    body = urllib.parse.urlencode(fields).encode()
    try:
        typical.opener.open(typical.base + "/support/tickets", body, timeout=60)
    except bench.urllib.error.HTTPError as error:
        if error.code != 303:
            raise
        return error.headers["Location"].rsplit("/", 1)[1]
    raise RuntimeError("opening a ticket did not redirect")


def drain(db, timeout=600):
    started = time.time()
    while db.waiting() > 0:
        if time.time() - started > timeout:
            raise RuntimeError("the outbox did not drain")
        time.sleep(0.2)
    return time.time() - started


def measure(bench, backend, source_url, args, workdir):
    db = Database(bench, backend, source_url)
    smtp_port = bench.free_port()
    sink = subprocess.Popen(
        ["taskset", "-c", "0", "/usr/bin/python3", "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{smtp_port}", "-c", "aiosmtpd.handlers.Sink"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    server = bench.Server(db.url, f"{backend}-notifications", extra=["--smtp-url", f"smtp://127.0.0.1:{smtp_port}"])
    try:
        typical = bench.Client(server.base)
        typical.sign_in(bench.TYPICAL)
        support = sign_in_support(bench, server.base)
        on, off = open_ticket(bench, typical, "Notified"), open_ticket(bench, typical, "Not notified")
        off_id = int(off.removeprefix("ATS-"))
        # Everyone on the second ticket chose "Don't notify me" on it.
        db.execute(
            f"INSERT INTO ticket_mutes (user_id, ticket_id) SELECT opener_id, id FROM tickets WHERE id = {off_id} "
            f"UNION SELECT user_id, ticket_id FROM ticket_recipients WHERE ticket_id = {off_id}"
        )
        token = support.csrf("/account/profile")
        cookie = f"incident-portal={support.cookie()}"
        body = f"csrf_token={urllib.parse.quote(token)}&body=A+benchmark+reply+from+support"
        routes = {
            name: {"name": name, "mode": "post", "path": f"/support/tickets/{number}/comments", "cookie": cookie, "body": body}
            for name, number in (("reply, 20 recipients notified", on), ("reply, notifications off", off))
        }
        drain(db)
        for route in routes.values():
            bench.wrk(server.base, route, args.warmup, args.connections, workdir)
            drain(db)
        reps = []
        for _ in range(args.reps):
            results = {}
            for name, route in routes.items():
                drain(db)
                result = bench.wrk(server.base, route, args.duration, args.connections, workdir)
                result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
                results[name] = result
            reps.append(results)
        drain(db)
        # The drain: 500 replies to the 20 recipients queue 10,000 mails.
        sent_before = db.scalar("SELECT COUNT(*) FROM notification_deliveries WHERE state = 'sent'")
        posted = time.time()
        for n in range(DRAIN_REPLIES):
            status, _ = support.request(f"/support/tickets/{on}/comments", {"csrf_token": token, "body": f"Drain {n}"})
            if status != 303:
                raise RuntimeError(f"a reply answered {status}")
        posting = time.time() - posted
        drained = drain(db)
        sent = db.scalar("SELECT COUNT(*) FROM notification_deliveries WHERE state = 'sent'") - sent_before
        failed = db.scalar("SELECT COUNT(*) FROM notification_deliveries WHERE state IN ('failed', 'dropped')")
        rss = bench.peak_rss_kib(server.process.pid)
    finally:
        server.stop()
        sink.terminate()
        sink.wait(timeout=30)
        db.drop()
    summary = {}
    for name in reps[0]:
        values = [rep[name] for rep in reps]
        summary[name] = {key: statistics.median(v[key] for v in values) for key in ("rps", "p50_us", "p99_us")}
        summary[name]["non_2xx"] = sum(v["errors_status"] + v["errors_other"] for v in values)
    return {
        "backend": backend,
        "routes": summary,
        "drain": {"mails": sent, "seconds": posting + drained, "after_posting_seconds": drained, "failed": failed},
        "peak_rss_kib": rss,
        "repetitions": reps,
    }


def report(results):
    lines = [
        "## Notifications",
        "",
        "On a copy of the 10,000-ticket data set; the portal mails a local aiosmtpd (its `Sink` handler, on core 0 with "
        "wrk). A support agent's reply (`POST /support/tickets/{n}/comments`) on a ticket whose opener and 20 recipients "
        "all want mail, against the same reply on a ticket all 21 of them turned off (\"Don't notify me\"). Each reply "
        "writes its notice in its own transaction either way; the sender fans it out and mails it from a thread of "
        "its own at a low priority, so under load the replies keep the core and the mails follow when it is free. "
        "Between runs the harness waits until the outbox is empty. The drain: 500 replies queue 10,000 mails, timed "
        "from the first reply until the last mail is accepted by the relay.",
        "",
        "| backend | reply, notified (req/s) | reply, notifications off (req/s) | ratio (≥ 70%) | drain (mails/s, ≥ 500) | peak memory |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        on, off = r["routes"]["reply, 20 recipients notified"], r["routes"]["reply, notifications off"]
        ratio = on["rps"] / off["rps"] if off["rps"] else 0
        rate = r["drain"]["mails"] / r["drain"]["seconds"] if r["drain"]["seconds"] else 0
        lines.append(
            f"| {r['backend']} | {on['rps']:,.0f} | {off['rps']:,.0f} | {100 * ratio:.0f}% {'✓' if ratio >= 0.7 else '✗'} | "
            f"{rate:,.0f} ({r['drain']['mails']:,} in {r['drain']['seconds']:.1f} s) {'✓' if rate >= 500 else '✗'} | "
            f"{r['peak_rss_kib'] / 1024:.1f} MiB |"
        )
    lines.append("")
    return lines

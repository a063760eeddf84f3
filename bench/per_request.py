"""What every request costs before its own work, against a bare actix-web route (imported by run.py).

On the demo data set (SQLite, `serve --demo`), release build, server on core 1 with one worker,
wrk `-t1 -c16` on core 0, every request with `Accept-Encoding` as a browser sends it. The bare
reference (`examples/bare.rs`) answers `/hello` with "ok" under the same conditions, in the same
repetitions. Also: the bytes each page sends, compressed and not, and that anonymous sign-in
pages write no session.
"""

import statistics
import subprocess
import time
import urllib.request

BROWSER_ACCEPT = "gzip, deflate, br, zstd"
DEMO_USER = "tess.tech@northwind.example"
DEMO_PASSWORD = "demo-password"


class Bare:
    def __init__(self, bench):
        self.port = bench.free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        binary = bench.ROOT / "target" / "release" / "examples" / "bare"
        self.process = subprocess.Popen(["taskset", "-c", "1", str(binary), f"127.0.0.1:{self.port}"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(self.base + "/hello", timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("the bare server did not start")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)


def size(base, path, cookie, accept):
    request = urllib.request.Request(base + path, headers={"Cookie": cookie, "Accept-Encoding": accept})
    with urllib.request.urlopen(request, timeout=30) as response:
        return len(response.read()), response.headers.get("Content-Encoding") or "identity"


def sessions(db_path):
    import sqlite3
    with sqlite3.connect(db_path, timeout=30) as conn:
        return conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]


def measure(bench, args, workdir):
    bench.DATA.mkdir(parents=True, exist_ok=True)
    db = bench.DATA / "demo-per-request.db"
    for suffix in ("", "-wal", "-shm", "-calls", "-calls-wal", "-calls-shm"):
        bench.Path(f"{db}{suffix}").unlink(missing_ok=True)
    server = bench.Server(f"sqlite://{db}", "per-request", extra=["--demo"])
    bare = Bare(bench)
    try:
        tess = bench.Client(server.base)
        token = tess.csrf("/login")
        status, _ = tess.request("/login", {"csrf_token": token, "email": DEMO_USER, "password": DEMO_PASSWORD})
        if status != 303:
            raise RuntimeError(f"the demo sign-in answered {status}")
        cookie = f"incident-portal={tess.cookie()}"
        _, login = bench.Client(server.base).request("/login")
        css = bench.html.unescape(bench.re.search(r'href="(/static/app\.css\?v=[^"]+)"', login).group(1))
        routes = [
            {"name": "bare actix /hello", "mode": "plain", "path": "/hello", "base": bare.base},
            {"name": "/healthz, no cookie", "mode": "plain", "path": "/healthz"},
            {"name": "/healthz, signed in", "mode": "plain", "path": "/healthz", "cookie": cookie},
            {"name": "static asset", "mode": "plain", "path": css},
            {"name": "GET /login, no cookie", "mode": "plain", "path": "/login"},
            {"name": "Security Incidents, signed in", "mode": "plain", "path": "/security/incidents", "cookie": cookie},
            {"name": "Security Dashboard, signed in", "mode": "plain", "path": "/security/dashboard", "cookie": cookie},
            {"name": "severity-count API, session", "mode": "plain", "path": "/api/v1/security-incidents/severity-count", "cookie": cookie},
        ]
        for route in routes:
            route["accept"] = BROWSER_ACCEPT
        before = sessions(db)
        for route in routes:
            bench.wrk(route.get("base", server.base), route, args.warmup, args.connections, workdir)
        reps = []
        for _ in range(args.reps):
            results = {}
            for route in routes:
                process = bare.process if route.get("base") else server.process
                ticks = bench.cpu_ticks(process.pid)
                result = bench.wrk(route.get("base", server.base), route, args.duration, args.connections, workdir)
                used = bench.cpu_ticks(process.pid) - ticks
                result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
                result["cpu_us_per_request"] = used / bench.CLOCK_TICKS * 1e6 / max(result["requests"], 1)
                results[route["name"]] = result
            reps.append(results)
        login_requests = sum(rep["GET /login, no cookie"]["requests"] for rep in reps)
        sessions_written = sessions(db) - before
        sizes = {}
        for route in routes[1:]:
            base = server.base
            sizes[route["name"]] = {
                "identity": size(base, route["path"], route.get("cookie", ""), "identity")[0],
                "browser": size(base, route["path"], route.get("cookie", ""), BROWSER_ACCEPT),
            }
        rss = bench.peak_rss_kib(server.process.pid)
    finally:
        server.stop()
        bare.stop()
    summary = {}
    for name in reps[0]:
        values = [rep[name] for rep in reps]
        summary[name] = {key: statistics.median(v[key] for v in values) for key in ("rps", "p50_us", "p99_us", "cpu_us_per_request")}
        summary[name]["non_2xx"] = sum(v["errors_status"] + v["errors_other"] for v in values)
    bare_rps = summary["bare actix /hello"]["rps"]
    healthz_rps = summary["/healthz, no cookie"]["rps"]
    for m in summary.values():
        m["ratio_to_bare"] = m["rps"] / bare_rps
        m["ratio_to_healthz"] = m["rps"] / healthz_rps
    return {
        "routes": summary,
        "sizes": sizes,
        "login_requests": login_requests,
        "sessions_written_by_anonymous_login": sessions_written,
        "peak_rss_kib": rss,
        "repetitions": reps,
    }


TARGETS = {
    "/healthz, no cookie": 0.70,
    "static asset": 0.60,
    "GET /login, no cookie": 0.25,
    "Security Incidents, signed in": 0.06,
    "Security Dashboard, signed in": 0.06,
    "severity-count API, session": 0.12,
}


def report(result):
    r = result["routes"]
    lines = [
        "## Per-request cost against a bare actix-web route",
        "",
        "Demo data (`serve --demo`, SQLite), the demo customer Tess; release build, one worker on core 1, wrk `-t1 -c16` "
        "on core 0, every request with `Accept-Encoding: gzip, deflate, br, zstd`. The bare reference is "
        "`examples/bare.rs` (actix-web answering `/hello` with \"ok\"), run in the same repetitions.",
        "",
        "| route | requests/s | % of bare actix | % of /healthz | target | p50 ms | p99 ms | CPU µs/request | bytes sent (identity → browser) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, m in r.items():
        target = TARGETS.get(name)
        met = "" if target is None else f"≥ {100 * target:.0f}% {'✓' if m['ratio_to_bare'] >= target else '✗'}"
        sizes = result["sizes"].get(name)
        sent = "" if not sizes else f"{sizes['identity']:,} → {sizes['browser'][0]:,} ({sizes['browser'][1]})"
        lines.append(
            f"| {name} | {m['rps']:,.0f} | {100 * m['ratio_to_bare']:.1f}% | {100 * m['ratio_to_healthz']:.1f}% | {met} | "
            f"{m['p50_us'] / 1000:.2f} | {m['p99_us'] / 1000:.2f} | {m['cpu_us_per_request']:,.0f} | {sent} |"
        )
    lines += [
        "",
        f"Anonymous `GET /login`: {result['login_requests']:,} requests wrote {result['sessions_written_by_anonymous_login']} session rows.",
        "",
        *FINDINGS.strip().splitlines(),
        "",
    ]
    return lines


# Profiled by hand (not re-measured by this script): perf record/report on the release server of
# this run's set-up; allocations and system calls counted with
# `perf probe -x /lib/x86_64-linux-gnu/libc.so.6 malloc` and
# `perf stat -e probe_libc:malloc -e 'syscalls:sys_enter_*' -p <pid>` over a 2 s wrk run.
FINDINGS = """
### Where the time goes (profiled 2026-12-01)

Counted per request over a 2 s wrk run (`perf stat` with a uprobe on glibc's `malloc` and the
`syscalls:sys_enter_*` tracepoints), after the changes below:

| route | allocations | system calls | SQL statements |
| --- | ---: | ---: | ---: |
| `/healthz`, with or without a session cookie | 33 | 2.1 (recvfrom, sendto) | 0 |
| static asset, with a session cookie | 39 | 2.1 | 0 |
| `GET /login`, no cookie | 46 | 2.1 | 0 |
| severity-count API, session | 216 | 17.9 | 3 |
| Security Incidents, signed in | 792 | 21.7 (10 futex, 8 fcntl) | 4 |
| Security Dashboard, signed in | 596 | 22.8 | 4 |

- **Middleware stack** (`/healthz` against bare actix: about 5 µs of CPU): request metrics, the request's
  database scope, the security headers (a fixed `DefaultHeaders` list: nothing is formatted per
  request), the tracing span with a request id, error rendering (which reads the response's status and
  returns at once on success), the session layer, the cross-origin check (a header lookup on
  GET) and panic catching. Each is a few hundred nanoseconds; none stood out in the profile.
  Found and fixed: the request id was a v4 UUID from one `getrandom` system call per request (a
  third of `/healthz`'s system calls); it now comes from uuid's thread-local generator. A request
  with a session cookie read its session from the database even for `/healthz` and the
  stylesheet (a browser sends the cookie with every asset): probes and fixed assets now
  reach the session layer without their cookie (`paths::needs_no_session`).
- **Anonymous pages** write nothing: the sign-in form's token is a signed value bound to a
  SameSite=Strict cookie, and the session begins at sign-in (the line above the table counts the
  rows).
- **Compression** was the largest single cost of a page. Brotli at quality 4 (this crate) took
  about 850 µs on the 15 KB incidents page and 65 µs on the 1.7 KB sign-in page, and gzip level 4
  110 µs; most of it setting up and zeroing the encoder's tables, which glibc handed back to the
  kernel after every response (a fixed `M_MMAP_THRESHOLD` also froze the trim threshold at
  128 KiB). Pages now go out as zstd (level 3, one context kept per worker thread: about 30 µs
  for the incidents page, 3,135 bytes against Brotli's 2,904) when the browser takes it, else
  gzip, else Brotli, and the trim threshold is 16 MiB. Fixed bodies stay Brotli 11, compressed once.
- **A signed-in page** runs four statements: the session, the user with their permissions (one
  join), the count (from the `incident_counts` counters, not a `COUNT(*)`) and the page's rows.
  On SQLite each statement is handed to sqlx's worker thread and its rows back, which is where
  the futex calls and most of the kernel's share come from: in the profile of the incidents page
  the scheduler and the hand-offs took about 29% of the core, SQLite itself 9%, zstd 11%,
  allocation 11%, template rendering 5%. The count cannot simply join the list: the list's last
  page is read backwards from the total. The session and the user are read by two layers
  (actix-session's store, then the sign-in guard, which reloads the user on every request so a
  disabled user or a changed role takes effect at once); merging them would mean caching the
  principal with the session, which this portal does not do on purpose.
"""

#!/usr/bin/env python3
"""Benchmark harness for incident-portal.

Builds the release binary, generates (or reuses) the data sets, starts the server pinned to one
core with one worker, drives it from the other core with wrk, and writes BENCHMARKS.md and
bench/results.json. Run from the repository root:

    python3 bench/run.py                  # everything: SQLite and PostgreSQL, 10k and 1M tickets
    python3 bench/run.py --backends sqlite --sizes 10000 --reps 3 --duration 3   # a quick look

Data sets are cached under target/bench-data (SQLite files) and in PostgreSQL databases named
incident_portal_bench_<size>, keyed by a fingerprint of the generator and that database's migrations.
"""

import argparse
import base64
import hashlib
import hmac
import html
import http.cookiejar
import json
import os
import platform
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import attachments  # noqa: E402  (this folder's own modules)
import notifications  # noqa: E402
import per_request  # noqa: E402
import scale_out  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BINARY = ROOT / "target" / "release" / "incident-portal"
DATA = ROOT / "target" / "bench-data"
PASSWORD = "bench-password"
TYPICAL = "typical@bench.example"
HEAVY = "heavy@bench.example"
SESSION_KEY = "a fixed benchmark session key, long enough to be accepted"
API_KEY_ENCRYPTION_KEY = base64.b64encode(b"\x07" * 32).decode()
PG_ADMIN = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Signed calls take the typical user's keys in turn, as many integrations would: one key's calls
# are limited to a few a second (API_RATE_LIMIT_PER_MINUTE), and thousands a second from one key
# all count on one row. The last route measures that case on its own.
API_KEYS = 32

LUA = r"""
local lines = {}
local index = 0
local mode = os.getenv("BENCH_MODE") or "plain"
local file = os.getenv("BENCH_LINES")
if file and file ~= "" then
  for line in io.lines(file) do lines[#lines + 1] = line end
end
local cookie = os.getenv("BENCH_COOKIE") or ""
local path = os.getenv("BENCH_PATH")
local body = os.getenv("BENCH_BODY") or ""
local accept = os.getenv("BENCH_ACCEPT") or ""

request = function()
  if mode == "signed" then
    index = index % #lines + 1
    return wrk.format("GET", path, { ["Authorization"] = lines[index] })
  elseif mode == "signin" then
    index = index % #lines + 1
    local sep = string.find(lines[index], "\t")
    local session = string.sub(lines[index], 1, sep - 1)
    local token = string.sub(lines[index], sep + 1)
    local body = "csrf_token=" .. token .. "&email=typical%40bench.example&password=bench-password"
    return wrk.format("POST", "/login", {
      ["Cookie"] = "incident-portal=" .. session,
      ["Content-Type"] = "application/x-www-form-urlencoded" }, body)
  elseif mode == "post" then
    return wrk.format("POST", path, {
      ["Cookie"] = cookie,
      ["Content-Type"] = "application/x-www-form-urlencoded" }, body)
  elseif accept ~= "" then
    return wrk.format("GET", path, { ["Cookie"] = cookie, ["Accept-Encoding"] = accept })
  else
    return wrk.format("GET", path, { ["Cookie"] = cookie })
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH-RESULT {\"requests\": %d, \"duration_us\": %d, \"p50_us\": %d, \"p99_us\": %d, " ..
    "\"mean_us\": %.1f, \"errors_status\": %d, \"errors_other\": %d}\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.mean,
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""


def log(message):
    print(f"[bench] {message}", flush=True)


def run(command, **kwargs):
    return subprocess.run(command, check=True, **kwargs)


def fingerprint(backend):
    """What a data set of `backend` depends on: the generator and that database's migrations."""
    digest = hashlib.sha256()
    for path in [ROOT / "src" / "generate.rs", ROOT / "src" / "store" / "bulk.rs", *sorted((ROOT / "migrations" / backend).glob("*.sql"))]:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def psql(sql, database="postgres"):
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + database
    return subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql], check=True, capture_output=True, text=True).stdout


def dataset(backend, size, stamp):
    """The database URL of a generated data set, generating it if missing or stale."""
    DATA.mkdir(parents=True, exist_ok=True)
    marker = DATA / f"{backend}-{size}.stamp"
    if backend == "sqlite":
        path = DATA / f"sqlite-{size}.db"
        url = f"sqlite://{path}"
        fresh = path.exists() and marker.exists() and marker.read_text() == stamp
        if not fresh:
            for suffix in ("", "-wal", "-shm", "-calls", "-calls-wal", "-calls-shm", "-files", "-files-wal", "-files-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
    else:
        name = f"incident_portal_bench_{size}"
        url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
        exists = psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'").strip() == "1"
        fresh = exists and marker.exists() and marker.read_text() == stamp
        if not fresh:
            psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            psql(f'CREATE DATABASE "{name}"')
    if not fresh:
        log(f"generating {size} tickets on {backend}")
        started = time.time()
        run([str(BINARY), "generate", "--tickets", str(size), "--database-url", url])
        log(f"generated in {time.time() - started:.0f} s")
        if backend == "postgres":
            # Write the load's dirty pages out now rather than during the measurements.
            psql("CHECKPOINT", name)
        marker.write_text(stamp)
    return url


class Client:
    """A browser-like client: cookies kept, redirects not followed."""

    def __init__(self, base):
        self.base = base
        self.jar = http.cookiejar.CookieJar()

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), NoRedirect)

    def request(self, path, data=None):
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            response = self.opener.open(self.base + path, body, timeout=120)
            return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def cookie(self):
        return next(c.value for c in self.jar if c.name == "incident-portal")

    def csrf(self, path):
        status, page = self.request(path)
        match = re.search(r'name="csrf_token" value="([^"]+)"', page)
        if not match:
            raise RuntimeError(f"no CSRF token on {path} ({status})")
        return match.group(1)

    def sign_in(self, email):
        token = self.csrf("/login")
        status, _ = self.request("/login", {"csrf_token": token, "email": email, "password": PASSWORD})
        if status != 303:
            raise RuntimeError(f"sign-in as {email} answered {status}")


def follow_next(client, path, steps):
    """The deepest full page (25 rows) at most `steps` pages on, following the pager's Next links
    (keyset cursors): a short last page would flatter the comparison between data sets."""
    deepest = path
    for _ in range(steps + 1):
        _, page = client.request(path)
        if len(re.findall(r'<td class="nowrap"><a href="/security/incidents/ATS-', page)) == 25:
            deepest = path
        match = re.search(r'<a href="([^"]+)" rel="next">', page)
        if not match:
            break
        path = html.unescape(match.group(1))
    return deepest


def sign(keys, path, count):
    """`count` signed Authorization headers for `path`, each with a new nonce, taking the keys in turn."""
    now = str(int(time.time()))
    lines = []
    for n in range(count):
        key_id, secret = keys[n % len(keys)]
        nonce = secrets.token_hex(12)
        message = (key_id + "GET" + path + nonce + now).encode()
        signature = base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha512).digest()).decode()
        lines.append(f"ARMOR-PSK {key_id}:{signature}:{nonce}:{now}")
    return lines


def cpu_ticks(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def peak_rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


class Server:
    def __init__(self, url, backend, extra=(), connections=4):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, RUST_LOG="warn")
        command = [
            "taskset", "-c", "1", str(BINARY), "serve",
            "--bind", f"127.0.0.1:{self.port}",
            "--workers", "1",
            "--database-url", url,
            "--database-max-connections", str(connections),
            "--session-key", SESSION_KEY,
            "--api-key-encryption-key", API_KEY_ENCRYPTION_KEY,
            "--api-rate-limit-per-minute", "1000000",
            *extra,
        ]
        self.log = tempfile.NamedTemporaryFile(prefix=f"bench-{backend}-", suffix=".log", delete=False)
        self.process = subprocess.Popen(command, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(self.base + "/readyz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"the server did not start; see {self.log.name}")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)


def wrk(base, route, duration, connections, workdir):
    script = workdir / "bench.lua"
    env = dict(
        os.environ,
        BENCH_MODE=route["mode"],
        BENCH_PATH=route.get("path", "/"),
        BENCH_COOKIE=route.get("cookie", ""),
        BENCH_BODY=route.get("body", ""),
        BENCH_ACCEPT=route.get("accept", ""),
    )
    if "lines" in route:
        lines_file = workdir / f"{route['name']}.lines"
        lines_file.write_text("\n".join(route["lines"]()) + "\n")
        env["BENCH_LINES"] = str(lines_file)
    command = [
        "taskset", "-c", "0", "wrk", "-t1", f"-c{route.get('connections', connections)}", f"-d{duration}s",
        "--latency", "-s", str(script), base + route.get("path", "/"),
    ]
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    line = next(l for l in output.splitlines() if l.startswith("BENCH-RESULT "))
    return json.loads(line[len("BENCH-RESULT "):])


def prepare_routes(base, size):
    typical, heavy = Client(base), Client(base)
    typical.sign_in(TYPICAL)
    heavy.sign_in(HEAVY)
    keys = []
    for n in range(API_KEYS):
        token = typical.csrf("/account/api-keys")
        _, page = typical.request("/account/api-keys", {"csrf_token": token, "name": f"bench {n} {time.time()}"})
        codes = re.findall(r'<code class="secret-link">([^<]+)</code>', page)
        keys.append((html.unescape(codes[0]), html.unescape(codes[1])))
    _, incidents = typical.request("/security/incidents")
    incident = html.unescape(re.search(r'<td class="nowrap"><a href="(/security/incidents/ATS-\d+)">', incidents).group(1))
    deep_steps = 100 if size >= 1_000_000 else 20
    typical_deep = follow_next(typical, "/security/incidents", deep_steps)
    heavy_deep = follow_next(heavy, "/security/incidents", deep_steps)
    filtered = "/security/incidents?severity=Critical&severity=High&sort=created&dir=desc"
    tc, hc = f"incident-portal={typical.cookie()}", f"incident-portal={heavy.cookie()}"
    list_path = "/api/v1/security-incidents?pageSize=25"
    count_path = "/api/v1/security-incidents/severity-count"

    def sessions_for_sign_in():
        lines = []
        for _ in range(400):
            anonymous = Client(base)
            token = anonymous.csrf("/login")
            lines.append(f"{anonymous.cookie()}\t{urllib.parse.quote(token)}")
        return lines

    routes = [
        {"name": "healthz", "mode": "plain", "path": "/healthz", "cookie": tc},
        {"name": "incidents typical, first page", "mode": "plain", "path": "/security/incidents", "cookie": tc},
        {"name": "incidents typical, deep page", "mode": "plain", "path": typical_deep, "cookie": tc},
        {"name": "incidents typical, filtered and sorted", "mode": "plain", "path": filtered, "cookie": tc},
        {"name": "incidents heavy, first page", "mode": "plain", "path": "/security/incidents", "cookie": hc},
        {"name": "incidents heavy, deep page", "mode": "plain", "path": heavy_deep, "cookie": hc},
        {"name": "incidents heavy, filtered and sorted", "mode": "plain", "path": filtered, "cookie": hc},
        {"name": "dashboard typical", "mode": "plain", "path": "/security/dashboard", "cookie": tc},
        {"name": "dashboard heavy", "mode": "plain", "path": "/security/dashboard", "cookie": hc},
        {"name": "incident page", "mode": "plain", "path": incident, "cookie": tc},
        {"name": "API severity count (ARMOR-PSK)", "mode": "signed", "path": count_path, "lines": lambda: sign(keys, count_path, 150_000)},
        {"name": "API list (ARMOR-PSK)", "mode": "signed", "path": list_path, "lines": lambda: sign(keys, list_path, 80_000)},
        {"name": "API severity count, one key", "mode": "signed", "path": count_path, "lines": lambda: sign(keys[:1], count_path, 150_000)},
        {"name": "sign-in (Argon2id)", "mode": "signin", "path": "/login", "connections": 2, "lines": sessions_for_sign_in},
    ]
    paths = {"typical deep page": typical_deep, "heavy deep page": heavy_deep, "incident": incident}
    return routes, paths


def measure(backend, size, args, stamp, workdir):
    url = dataset(backend, size, stamp)
    server = Server(url, backend)
    try:
        routes, paths = prepare_routes(server.base, size)
        log(f"{backend} {size}: warming up")
        for route in routes:
            wrk(server.base, route, args.warmup, args.connections, workdir)
        repetitions = []
        for rep in range(args.reps):
            log(f"{backend} {size}: repetition {rep + 1} of {args.reps}")
            results = {}
            for route in routes:
                before = cpu_ticks(server.process.pid)
                result = wrk(server.base, route, args.duration, args.connections, workdir)
                used = cpu_ticks(server.process.pid) - before
                result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
                result["cpu_us_per_request"] = used / CLOCK_TICKS * 1e6 / max(result["requests"], 1)
                results[route["name"]] = result
            # A sign-in must not stall other requests: /healthz while sign-ins run.
            sign_in = next(r for r in routes if r["mode"] == "signin")
            (workdir / "background.lines").write_text("\n".join(sign_in["lines"]()) + "\n")
            background = subprocess.Popen(
                ["taskset", "-c", "0", "wrk", "-t1", "-c2", f"-d{args.duration + 1}s", "-s", str(workdir / "bench.lua"), server.base + "/login"],
                env=dict(os.environ, BENCH_MODE="signin", BENCH_LINES=str(workdir / "background.lines")),
                stdout=subprocess.DEVNULL,
            )
            time.sleep(0.5)
            during = wrk(server.base, routes[0], args.duration, args.connections, workdir)
            background.wait()
            during["rps"] = during["requests"] / (during["duration_us"] / 1e6)
            results["healthz during sign-ins"] = during
            for result in results.values():
                result["ratio_to_healthz"] = result["rps"] / results["healthz"]["rps"]
            repetitions.append(results)
        rss = peak_rss_kib(server.process.pid)
    finally:
        server.stop()
    names = list(repetitions[0].keys())
    summary = {}
    for name in names:
        values = [rep[name] for rep in repetitions]
        summary[name] = {
            key: statistics.median(v[key] for v in values)
            for key in ("rps", "ratio_to_healthz", "p50_us", "p99_us", "cpu_us_per_request")
            if all(key in v for v in values)
        }
        summary[name]["non_2xx"] = sum(v["errors_status"] for v in values)
        summary[name]["socket_errors"] = sum(v["errors_other"] for v in values)
    return {"backend": backend, "tickets": size, "peak_rss_kib": rss, "routes": summary, "paths": paths, "repetitions": repetitions}


def machine():
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = next((l.split()[1] for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal")), "0")
    postgres = ""
    try:
        postgres = psql("SHOW server_version").strip()
    except Exception:  # noqa: BLE001 - only for the report
        pass
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0] if shutil.which("wrk") else ""
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(int(memory) / 1024 / 1024, 1),
        "kernel": platform.release(),
        "postgres": postgres,
        "wrk": wrk_version,
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def fmt_ms(us):
    return f"{us / 1000:.2f}"


def report(results, info, args):
    lines = [
        "# Benchmarks",
        "",
        f"Measured {info['date']} at commit `{info['commit']}` with `python3 bench/run.py` "
        f"({args.reps} interleaved repetitions of {args.duration} s per route after a {args.warmup} s warm-up; medians).",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB, Linux {info['kernel']}; "
        f"PostgreSQL {info['postgres'] or 'n/a'}; {info['wrk']}.",
        "",
        "Server: release build, `serve --workers 1 --database-max-connections 4`, pinned to core 1 "
        "(`taskset -c 1`), `RUST_LOG=warn`; load from wrk pinned to core 0 (`-t1 -c16`, sign-ins `-c2`). "
        "Every request carries a signed-in session (the session lookup counts) or an ARMOR-PSK signature "
        "(a new nonce per call). Signed calls take 32 API keys of the typical user in turn, as many "
        "integrations would: one key may make only a few calls a second (`API_RATE_LIMIT_PER_MINUTE`, 120 "
        "by default; 1,000,000 here), and every call of a key counts on that key's row for the minute. "
        "The route \"one key\" sends thousands a second with a single key, for reference: on PostgreSQL "
        "its calls queue for that row's lock. PostgreSQL's own processes are not pinned and their CPU is not in the "
        "CPU column, which counts the portal's process only.",
        "",
        "Data sets from `incident-portal generate --tickets N` (seed 42): about N/1000 accounts and N/20 users; "
        "30% of tickets labelled, most closed; one account holds 20% of the tickets and its heavy user "
        "receives half of them. The typical user is the first user of a middle-sized account.",
        "",
        "The deep page is the deepest full page (25 rows) reached by following the pager's Next links up to "
        "100 times (20 at 10,000 tickets), so that it is the same work at both sizes: at 10,000 tickets the "
        "heavy user's last page holds a handful of rows and the typical user has a single page.",
        "",
    ]
    for result in results:
        r = result["routes"]
        healthz = r["healthz"]["rps"]
        lines += [
            f"## {result['backend']}, {result['tickets']:,} tickets",
            "",
            f"Peak resident memory of the server: {result['peak_rss_kib'] / 1024:.1f} MiB.",
            "",
            "| route | requests/s | % of /healthz | p50 ms | p99 ms | non-2xx | CPU µs/request |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for name, m in r.items():
            lines.append(
                f"| {name} | {m['rps']:,.0f} | {100 * m['ratio_to_healthz']:.1f}% | {fmt_ms(m['p50_us'])} | "
                f"{fmt_ms(m['p99_us'])} | {m['non_2xx'] + m['socket_errors']} | {m.get('cpu_us_per_request', 0):,.0f} |"
            )
        lines.append("")
        lines.append(f"_/healthz: {healthz:,.0f} requests/s._")
        lines.append("")
    # Targets.
    lines += ["## Targets", "", "| target | result | met |", "| --- | --- | --- |"]
    for result in results:
        r, label = result["routes"], f"{result['backend']} {result['tickets']:,}"
        checks = [
            ("incidents, typical user ≥ 10% of /healthz", r["incidents typical, first page"]["ratio_to_healthz"], 0.10),
            ("incidents, heavy user ≥ 6% of /healthz", r["incidents heavy, first page"]["ratio_to_healthz"], 0.06),
            ("severity-count API ≥ 25% of /healthz", r["API severity count (ARMOR-PSK)"]["ratio_to_healthz"], 0.25),
        ]
        for name, value, minimum in checks:
            lines.append(f"| {label}: {name} | {100 * value:.1f}% | {'yes' if value >= minimum else 'NO'} |")
        for who in ("typical", "heavy"):
            dashboard, listing = r[f"dashboard {who}"]["rps"], r[f"incidents {who}, first page"]["rps"]
            lines.append(f"| {label}: dashboard ≥ list page ({who}) | {dashboard:,.0f} vs {listing:,.0f} /s | {'yes' if dashboard >= listing else 'NO'} |")
        for who in ("typical", "heavy"):
            deep, first = r[f"incidents {who}, deep page"]["p50_us"], r[f"incidents {who}, first page"]["p50_us"]
            ratio = deep / first if first else 0
            lines.append(f"| {label}: deep page p50 ≈ first page ({who}) | {ratio:.2f}× | {'yes' if ratio <= 1.3 else 'NO'} |")
        errors = sum(m["non_2xx"] + m["socket_errors"] for m in r.values())
        lines.append(f"| {label}: zero errors under load | {errors} | {'yes' if errors == 0 else 'NO'} |")
        p99, p99_during = r["healthz"]["p99_us"], r["healthz during sign-ins"]["p99_us"]
        lines.append(f"| {label}: sign-ins do not stall others (healthz p99 {fmt_ms(p99)} → {fmt_ms(p99_during)} ms) | {r['healthz during sign-ins']['ratio_to_healthz'] * 100:.0f}% of normal throughput | {'yes' if r['healthz during sign-ins']['ratio_to_healthz'] >= 0.5 else 'NO'} |")
        if result["backend"] == "sqlite":
            mib = result["peak_rss_kib"] / 1024
            lines.append(f"| {label}: peak memory < 64 MiB | {mib:.1f} MiB | {'yes' if mib < 64 else 'NO'} |")
    by_key = {(r["backend"], r["tickets"]): r for r in results}
    for backend in sorted({r["backend"] for r in results}):
        small, large = by_key.get((backend, 10_000)), by_key.get((backend, 1_000_000))
        if not (small and large):
            continue
        for name in large["routes"]:
            if name.startswith("healthz") or name not in small["routes"]:
                continue
            ratio = large["routes"][name]["p50_us"] / max(small["routes"][name]["p50_us"], 1)
            lines.append(f"| {backend}: p50 at 1M within 1.3× of 10k — {name} | {ratio:.2f}× | {'yes' if ratio <= 1.3 else 'NO'} |")
    lines.append("")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--no-notifications", action="store_true", help="skip the notification measurements")
    parser.add_argument("--no-attachments", action="store_true", help="skip the attachment measurements")
    parser.add_argument("--no-per-request", action="store_true", help="skip the per-request cost against bare actix-web")
    parser.add_argument("--only-per-request", action="store_true", help="measure only the per-request cost (demo data)")
    parser.add_argument("--no-scale-out", action="store_true", help="skip PgBouncer, four instances and the read replica")
    parser.add_argument("--only-scale-out", action="store_true", help="measure only PgBouncer, four instances and the read replica (PostgreSQL)")
    parser.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"))
    parser.add_argument("--json", default=str(ROOT / "bench" / "results.json"))
    args = parser.parse_args()

    if not shutil.which("wrk"):
        log("installing wrk")
        run(["apt-get", "install", "-y", "wrk"])
    if not args.no_notifications and subprocess.run(["/usr/bin/python3", "-c", "import aiosmtpd"], capture_output=True).returncode:
        log("installing python3-aiosmtpd")
        run(["apt-get", "install", "-y", "python3-aiosmtpd"])
    if not args.no_build:
        log("building the release binary")
        run(["cargo", "build", "--release", "--locked"], cwd=ROOT)
        run(["cargo", "build", "--release", "--locked", "--example", "bare"], cwd=ROOT)
    info = machine()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        workdir = Path(tmp)
        (workdir / "bench.lua").write_text(LUA)
        notified, attached, per_request_result, scaled = [], [], None, []
        if args.only_scale_out:
            args.no_per_request = args.no_notifications = args.no_attachments = True
        if not args.no_per_request and not args.only_scale_out:
            log("per-request cost against bare actix-web (demo data)")
            per_request_result = per_request.measure(sys.modules[__name__], args, workdir)
            Path(args.json).write_text(json.dumps({"machine": info, "per_request": per_request_result}, indent=2))
        sizes = [int(s) for s in args.sizes.split(",")] if not args.only_per_request else []
        for backend in args.backends.split(",") if sizes else []:
            for size in sizes:
                if not args.only_scale_out:
                    results.append(measure(backend, size, args, fingerprint(backend), workdir))
                    Path(args.json).write_text(json.dumps({"machine": info, "results": results}, indent=2))
                if backend == "postgres" and not args.no_scale_out:
                    scaled.append(scale_out.measure(sys.modules[__name__], size, args, workdir))
                    Path(args.json).write_text(json.dumps({"machine": info, "results": results, "scale_out": scaled}, indent=2))
            if not args.no_notifications:
                log(f"{backend}: notifications")
                source = dataset(backend, min(sizes), fingerprint(backend))
                notified.append(notifications.measure(sys.modules[__name__], backend, source, args, workdir))
                Path(args.json).write_text(json.dumps({"machine": info, "results": results, "notifications": notified, "per_request": per_request_result}, indent=2))
            if not args.no_attachments:
                log(f"{backend}: attachments")
                source = dataset(backend, min(sizes), fingerprint(backend))
                attached.append(attachments.measure(sys.modules[__name__], backend, source, args, workdir))
                Path(args.json).write_text(
                    json.dumps({"machine": info, "results": results, "notifications": notified, "attachments": attached, "per_request": per_request_result}, indent=2)
                )
        Path(args.json).write_text(json.dumps({"machine": info, "results": results, "notifications": notified, "attachments": attached, "per_request": per_request_result, "scale_out": scaled}, indent=2))
    extra = (
        (per_request.report(per_request_result) if per_request_result else [])
        + (notifications.report(notified) if notified else [])
        + (attachments.report(attached) if attached else [])
        + (scale_out.report(scaled) if scaled else [])
    )
    Path(args.output).write_text(report(results, info, args) + "\n".join(extra))
    log(f"wrote {args.output} and {args.json}")


if __name__ == "__main__":
    sys.exit(main())

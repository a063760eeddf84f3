"""Scale-out figures on PostgreSQL: the same routes directly, through PgBouncer in transaction
mode, and with a streaming read replica, one server each (as the main measurements: one worker on
core 1, wrk on core 0); the pooler's cost per request; and four instances with 16 connections
each (64 client connections) through PgBouncer on 8 server connections.

PgBouncer (Debian's `pgbouncer`) and the standby (`pg_basebackup -R` of the whole cluster into
target/bench-data, started with Debian's `pg_ctl` on a free port) are started here and stopped
after; the primary must accept replication connections from 127.0.0.1 (see .ci/run). Run from
bench/run.py (`--only-scale-out` runs just these; `--no-scale-out` skips them).
"""

import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path

ROUTES = [
    "healthz",
    "incidents typical, first page",
    "incidents heavy, first page",
    "dashboard typical",
    "incident page",
    "API list (ARMOR-PSK)",
    "API severity count (ARMOR-PSK)",
]
# Four instances, 16 connections each, on 8 server connections.
INSTANCES, INSTANCE_CONNECTIONS, SERVER_CONNECTIONS = 4, 16, 8
AS_POSTGRES = os.geteuid() == 0


def _demote():
    """Run a server process as postgres when we are root (PgBouncer and PostgreSQL refuse root)."""
    if AS_POSTGRES:
        import pwd

        record = pwd.getpwnam("postgres")
        os.setgid(record.pw_gid)
        os.setuid(record.pw_uid)


def _hand_over(path):
    if AS_POSTGRES:
        import pwd

        record = pwd.getpwnam("postgres")
        os.chown(path, record.pw_uid, record.pw_gid)


def _binaries():
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    if not versions:
        raise RuntimeError("Debian's PostgreSQL server binaries are missing")
    return versions[-1].parent


class PgBouncer:
    def __init__(self, bench, workdir, pool_size):
        if not shutil.which("pgbouncer") and not Path("/usr/sbin/pgbouncer").exists():
            bench.log("installing pgbouncer")
            bench.run(["apt-get", "install", "-y", "pgbouncer"])
        # Its own directory: the run's working directory is private to us, and PgBouncer may be postgres.
        self.dir = Path(tempfile.mkdtemp(prefix="bench-pgbouncer-"))
        _hand_over(self.dir)
        self.port = bench.free_port()
        admin = urllib.parse.urlparse(bench.PG_ADMIN)
        (self.dir / "users.txt").write_text(f'"{admin.username or "postgres"}" ""\n')
        (self.dir / "pgbouncer.ini").write_text(
            f"[databases]\n* = host={admin.hostname or '127.0.0.1'} port={admin.port or 5432}\n\n[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\nauth_type = trust\n"
            f"auth_file = {self.dir / 'users.txt'}\npool_mode = transaction\ndefault_pool_size = {pool_size}\n"
            f"max_client_conn = 1000\nlogfile = {self.dir / 'pgbouncer.log'}\npidfile = {self.dir / 'pgbouncer.pid'}\n"
        )
        self.process = subprocess.Popen(
            ["pgbouncer", str(self.dir / "pgbouncer.ini")], preexec_fn=_demote,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 20
        while subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(self.port)]).returncode != 0:
            if time.time() > deadline:
                raise RuntimeError("pgbouncer did not start")
            time.sleep(0.2)

    def route(self, url):
        parts = urllib.parse.urlparse(url)
        return parts._replace(netloc=f"{parts.username or 'postgres'}@127.0.0.1:{self.port}").geturl()

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


class Standby:
    def __init__(self, bench):
        self.bin = _binaries()
        self.dir = bench.DATA / "standby"
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        _hand_over(self.dir)
        self.data = self.dir / "data"
        admin = urllib.parse.urlparse(bench.PG_ADMIN)
        bench.log("making a standby of the cluster (pg_basebackup)")
        subprocess.run(
            [str(self.bin / "pg_basebackup"), "-h", admin.hostname or "127.0.0.1", "-p", str(admin.port or 5432),
             "-U", admin.username or "postgres", "-D", str(self.data), "-X", "stream", "-R", "-c", "fast"],
            check=True, preexec_fn=_demote,
        )
        self.port = bench.free_port()
        (self.data / "postgresql.conf").write_text(
            f"port = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.dir}'\n"
            "hot_standby = on\nmax_connections = 200\nshared_buffers = 128MB\n"
        )
        (self.data / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
        (self.data / "pg_ident.conf").write_text("")
        for name in ("postgresql.conf", "pg_hba.conf", "pg_ident.conf"):
            _hand_over(self.data / name)
        self._pg_ctl("start")

    def _pg_ctl(self, action):
        subprocess.run(
            [str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "standby.log"), "-w", "-t", "300",
             "-m", "fast", action],
            check=True, preexec_fn=_demote, stdout=subprocess.DEVNULL,
        )

    def route(self, url):
        parts = urllib.parse.urlparse(url)
        return parts._replace(netloc=f"{parts.username or 'postgres'}@127.0.0.1:{self.port}").geturl()

    def transactions(self, bench, database):
        url = self.route(bench.PG_ADMIN.rsplit("/", 1)[0] + "/" + database)
        out = subprocess.run(
            ["psql", url, "-qAtc", f"SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '{database}'"],
            check=True, capture_output=True, text=True,
        ).stdout
        return int(out.strip() or 0)

    def stop(self):
        self._pg_ctl("stop")
        shutil.rmtree(self.dir, ignore_errors=True)


def database_ticks():
    """CPU ticks of every PostgreSQL server process on the machine (the primary's, and a standby's)."""
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "comm").read_text().strip() != "postgres":
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            continue
    return total


def _pick(routes):
    by_name = {route["name"]: route for route in routes}
    return [by_name[name] for name in ROUTES if name in by_name]


def _one_server(bench, url, size, args, workdir, extra=(), helper_pid=None):
    """The ROUTES on one server: medians of `args.reps` repetitions, with the server's CPU per
    request and, when given, a helper process's (the pooler's)."""
    server = bench.Server(url, "postgres", extra)
    try:
        routes, _ = bench.prepare_routes(server.base, size)
        routes = _pick(routes)
        for route in routes:
            bench.wrk(server.base, route, args.warmup, args.connections, workdir)
        reps = []
        for _ in range(args.reps):
            results = {}
            for route in routes:
                before = bench.cpu_ticks(server.process.pid)
                helper_before = bench.cpu_ticks(helper_pid) if helper_pid else 0
                database_before = database_ticks()
                result = bench.wrk(server.base, route, args.duration, args.connections, workdir)
                requests = max(result["requests"], 1)
                result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
                result["cpu_us_per_request"] = (bench.cpu_ticks(server.process.pid) - before) / bench.CLOCK_TICKS * 1e6 / requests
                result["database_cpu_us_per_request"] = (database_ticks() - database_before) / bench.CLOCK_TICKS * 1e6 / requests
                if helper_pid:
                    used = bench.cpu_ticks(helper_pid) - helper_before
                    result["pooler_cpu_us_per_request"] = used / bench.CLOCK_TICKS * 1e6 / requests
                results[route["name"]] = result
            reps.append(results)
    finally:
        server.stop()
    summary = {}
    for name in reps[0]:
        values = [rep[name] for rep in reps]
        summary[name] = {
            key: statistics.median(v[key] for v in values)
            for key in ("rps", "p50_us", "p99_us", "cpu_us_per_request", "database_cpu_us_per_request", "pooler_cpu_us_per_request")
            if all(key in v for v in values)
        }
        summary[name]["errors"] = sum(v["errors_status"] + v["errors_other"] for v in values)
    return summary


def _four_instances(bench, url, size, args, workdir):
    """INSTANCES servers through the pooler, each driven by its own wrk at once: total requests/s."""
    extra = ("--database-pooler", "transaction")
    servers = [bench.Server(url, "postgres", extra, connections=INSTANCE_CONNECTIONS) for _ in range(INSTANCES)]
    try:
        prepared = [{r["name"]: r for r in _pick(bench.prepare_routes(server.base, size)[0])} for server in servers]
        summary = {}
        for name in ROUTES:
            if name == "healthz" or name not in prepared[0]:
                continue
            totals, p50s, errors = [], [], 0
            for _ in range(args.reps):
                procs = []
                for n, (server, routes) in enumerate(zip(servers, prepared)):
                    sub = workdir / f"instance-{n}"
                    sub.mkdir(exist_ok=True)
                    (sub / "bench.lua").write_text((workdir / "bench.lua").read_text())
                    procs.append(_spawn_wrk(server.base, routes[name], args, sub))
                results = [_collect(p) for p in procs]
                totals.append(sum(r["requests"] / (r["duration_us"] / 1e6) for r in results))
                p50s.append(statistics.mean(r["p50_us"] for r in results))
                errors += sum(r["errors_status"] + r["errors_other"] for r in results)
            summary[name] = {"rps": statistics.median(totals), "p50_us": statistics.median(p50s), "errors": errors}
    finally:
        for server in servers:
            server.stop()
    return summary


def _spawn_wrk(base, route, args, workdir):
    """wrk in the background, as bench.wrk runs it in the foreground (a quarter of the connections each)."""
    env = dict(os.environ, BENCH_MODE=route["mode"], BENCH_PATH=route.get("path", "/"), BENCH_COOKIE=route.get("cookie", ""),
               BENCH_BODY=route.get("body", ""), BENCH_ACCEPT=route.get("accept", ""))
    if "lines" in route:
        lines = workdir / "route.lines"
        lines.write_text("\n".join(route["lines"]()) + "\n")
        env["BENCH_LINES"] = str(lines)
    connections = max(args.connections // INSTANCES, 1)
    command = ["taskset", "-c", "0", "wrk", "-t1", f"-c{connections}", f"-d{args.duration}s", "--latency", "-s",
               str(workdir / "bench.lua"), base + route.get("path", "/")]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)


def _collect(process):
    output, _ = process.communicate()
    line = next(l for l in output.splitlines() if l.startswith("BENCH-RESULT "))
    return json.loads(line[len("BENCH-RESULT "):])


def measure(bench, size, args, workdir):
    url = bench.dataset("postgres", size, bench.fingerprint("postgres"))
    database = url.rsplit("/", 1)[1]
    # What the direct connection sends at start-up, on the database, for the pooled connections.
    bench.psql(f'ALTER DATABASE "{database}" SET max_parallel_workers_per_gather = 0', database)
    bench.psql(f'ALTER DATABASE "{database}" SET jit = off', database)
    out = {"tickets": size}
    bench.log(f"scale-out {size}: direct")
    out["direct"] = _one_server(bench, url, size, args, workdir)
    pooler = PgBouncer(bench, workdir, SERVER_CONNECTIONS)
    try:
        bench.log(f"scale-out {size}: one instance through PgBouncer")
        out["pooler"] = _one_server(bench, pooler.route(url), size, args, workdir,
                                    extra=("--database-pooler", "transaction"), helper_pid=pooler.process.pid)
        bench.log(f"scale-out {size}: {INSTANCES} instances through PgBouncer on {SERVER_CONNECTIONS} server connections")
        out["four_instances"] = _four_instances(bench, pooler.route(url), size, args, workdir)
    finally:
        pooler.stop()
    standby = Standby(bench)
    try:
        bench.log(f"scale-out {size}: with a read replica")
        before = standby.transactions(bench, database)
        out["replica"] = _one_server(bench, url, size, args, workdir, extra=("--database-read-url", standby.route(url)))
        out["replica_transactions"] = standby.transactions(bench, database) - before
    finally:
        standby.stop()
    return out


def _ms(us):
    return f"{us / 1000:.2f}"


def report(results):
    lines = [
        "## Scale-out (PostgreSQL)",
        "",
        "One server as above, reaching PostgreSQL directly, through PgBouncer 1.18 in transaction mode "
        f"(`DATABASE_POOLER=transaction`, {SERVER_CONNECTIONS} server connections), and directly with a "
        "streaming replica on the same machine (`DATABASE_READ_URL`). The pooler's cost per request is the "
        "difference of the machine's time per request at saturation (1/requests per second, pooled minus "
        "direct), made of the portal's, PostgreSQL's and PgBouncer's CPU columns; the replica's transactions are those "
        f"the standby served. Database CPU is that of every PostgreSQL process per request, measured directly. Then {INSTANCES} instances with {INSTANCE_CONNECTIONS} connections each "
        f"({INSTANCES * INSTANCE_CONNECTIONS} client connections) through PgBouncer on {SERVER_CONNECTIONS} "
        "server connections, each driven by its own wrk at the same time (requests/s summed, p50 averaged). "
        "On one machine the instances, PgBouncer and PostgreSQL share its cores: these show what each layer "
        "costs, not a cluster's capacity.",
        "",
    ]
    for result in results:
        d, p, r, f = result["direct"], result["pooler"], result["replica"], result["four_instances"]
        lines += [
            f"### {result['tickets']:,} tickets",
            "",
            "| route | direct req/s | p50 ms | portal CPU µs | database CPU µs | via PgBouncer req/s | p50 ms | portal CPU µs | database CPU µs | PgBouncer CPU µs | pooler cost µs/request | with replica req/s | p50 ms |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for name in d:
            if name not in p or name not in r:
                continue
            # The machine's time per request at saturation, pooled against direct.
            cost = 1e6 / max(p[name]["rps"], 1) - 1e6 / max(d[name]["rps"], 1)
            lines.append(
                f"| {name} | {d[name]['rps']:,.0f} | {_ms(d[name]['p50_us'])} | {d[name]['cpu_us_per_request']:,.0f} | "
                f"{d[name].get('database_cpu_us_per_request', 0):,.0f} | {p[name]['rps']:,.0f} | {_ms(p[name]['p50_us'])} | "
                f"{p[name]['cpu_us_per_request']:,.0f} | {p[name].get('database_cpu_us_per_request', 0):,.0f} | "
                f"{p[name].get('pooler_cpu_us_per_request', 0):,.0f} | {cost:,.0f} | "
                f"{r[name]['rps']:,.0f} | {_ms(r[name]['p50_us'])} |"
            )
        errors = sum(m["errors"] for part in (d, p, r, f) for m in part.values())
        lines += [
            "",
            f"_Transactions the replica served during its run: {result['replica_transactions']:,}. Errors in all runs: {errors}._",
            "",
            f"| route, {INSTANCES} instances via PgBouncer | requests/s (sum) | p50 ms (mean) |",
            "| --- | ---: | ---: |",
        ]
        for name, m in f.items():
            lines.append(f"| {name} | {m['rps']:,.0f} | {_ms(m['p50_us'])} |")
        lines.append("")
    return lines

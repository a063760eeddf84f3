#!/usr/bin/env python3
"""The API's contract, checked by property-based testing (Schemathesis).

Starts the portal (the binary given) on a fresh SQLite database with the demo data, allows FH-AUTH
and makes an API key as the account's people would (Account > Users, Account > API Keys), and
runs Schemathesis against the
portal's own OpenAPI document, in positive and then negative mode, with every check: each call
is signed (hooks.py), and a 5xx, a status the document does not list, a body that does not match
its schema, valid data refused or invalid data accepted fails the run.

    python tests/contract/run.py target/debug/incident-portal [--max-examples N] [--seed S]
"""

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import requests

from signing import authorization

HERE = os.path.dirname(os.path.abspath(__file__))
EMAIL = "tess.tech@northwind.example"
ADMIN = "avery.admin@northwind.example"
PASSWORD = "demo-password"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_portal(binary, workdir):
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite://{workdir}/contract.db",
        "BIND_ADDRESS": f"127.0.0.1:{port}",
        "API_KEY_ENCRYPTION_KEY_FILE": f"{workdir}/api.key",
        # Thousands of signed calls with one key: the rate limit is not under test here.
        "API_RATE_LIMIT_PER_MINUTE": "1000000",
        "RUST_LOG": "warn",
        # The hooks' own FH-AUTH sign-ins come from addresses of their own (X-Forwarded-For), so
        # that the fuzzed wrong passwords' throttle does not stop them.
        "TRUST_PROXY_HEADERS": "true",
        "WORKERS": "2",
    }
    log = open(os.path.join(workdir, "portal.log"), "wb")
    process = subprocess.Popen([binary, "serve", "--demo"], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"contract: the portal stopped at start-up:\n{open(log.name).read()}")
        try:
            if requests.get(f"{base}/readyz", timeout=2).status_code == 200:
                return process, base
        except requests.RequestException:
            pass
        time.sleep(0.5)
    process.kill()
    raise SystemExit("contract: the portal did not become ready")


def csrf_token(html):
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def signed_in(base, email):
    browser = requests.Session()
    login = browser.get(f"{base}/login")
    response = browser.post(
        f"{base}/login",
        data={"email": email, "password": PASSWORD, "csrf_token": csrf_token(login.text)},
        allow_redirects=False,
    )
    assert response.status_code == 303, f"sign-in of {email} answered {response.status_code}"
    return browser


def prepare(base):
    """As the account's people would: the administrator allows FH-AUTH, a user creates an API key
    (its id and secret). Then the tickets that user sees, for the hooks to name."""
    admin = signed_in(base, ADMIN)
    users = admin.get(f"{base}/account/users")
    allowed = admin.post(
        f"{base}/account/api-access", data={"fh_auth": "on", "csrf_token": csrf_token(users.text)}, allow_redirects=False
    )
    assert allowed.status_code == 303, f"allowing FH-AUTH answered {allowed.status_code}"
    browser = signed_in(base, EMAIL)
    page = browser.get(f"{base}/account/api-keys")
    created = browser.post(
        f"{base}/account/api-keys", data={"name": "contract test", "csrf_token": csrf_token(page.text)}
    )
    codes = re.findall(r'<code class="secret-link">([^<]+)</code>', created.text)
    assert len(codes) == 2, "the new key's id and secret are shown"
    key = (codes[0], codes[1])
    tickets = []
    for query in ["maxResults=6", "maxResults=4&requestType=security-incident"]:
        target = f"/tickets/list?{query}"
        listed = requests.get(f"{base}{target}", headers={"authorization": authorization(*key, "GET", target)})
        tickets += [item["issueKeyId"] for item in listed.json()["items"]]
    return key, tickets


def schemathesis(base, key, tickets, mode, max_examples, seed, report_dir):
    st = os.path.join(os.path.dirname(sys.executable), "st")
    command = [
        st, "run", f"{base}/api/v1/openapi.json",
        "--checks", "all",
        "--mode", mode,
        "--max-examples", str(max_examples),
        # One worker: Python 3.11 before 3.11.9 can fail "AST constructor recursion depth mismatch"
        # when two threads parse at once (CPython gh-106905), which Hypothesis does describing lambdas.
        "--workers", "1",
        "--request-timeout", "10",
        # The hooks make valid FH-AUTH bodies with a call of their own.
        "--suppress-health-check", "too_slow",
        "--report", "junit",
        "--report-junit-path", os.path.abspath(os.path.join(report_dir, f"contract-{mode}.xml")),
    ]
    if seed is not None:
        command += ["--seed", str(seed)]
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "hooks",
        "PYTHONPATH": HERE,
        "CONTRACT_KEY_ID": key[0],
        "CONTRACT_KEY_SECRET": key[1],
        "CONTRACT_BASE_URL": base,
        "CONTRACT_MODE": mode,
        "CONTRACT_TICKETS": ",".join(tickets),
        "CONTRACT_USERNAME": EMAIL,
        "CONTRACT_PASSWORD": PASSWORD,
    }
    print(f"contract: {mode} mode: {' '.join(command[1:])}", flush=True)
    # In the report directory, where Schemathesis also keeps its cache (`.schemathesis/`).
    return subprocess.run(command, env=env, cwd=report_dir).returncode


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binary", help="the incident-portal binary to start")
    parser.add_argument("--max-examples", type=int, default=int(os.environ.get("CONTRACT_MAX_EXAMPLES", "60")))
    parser.add_argument("--seed", type=int, default=os.environ.get("CONTRACT_SEED"))
    parser.add_argument("--modes", default="positive,negative")
    parser.add_argument("--report-dir", default=os.path.join("target", "contract"))
    args = parser.parse_args()
    os.makedirs(args.report_dir, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="contract-")
    process, base = start_portal(os.path.abspath(args.binary), workdir)
    failed = []
    try:
        key, tickets = prepare(base)
        for mode in args.modes.split(","):
            if schemathesis(base, key, tickets, mode, args.max_examples, args.seed, args.report_dir) != 0:
                failed.append(mode)
        if process.poll() is not None:
            failed.append("the portal stopped during the run")
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
    if failed:
        log = open(os.path.join(workdir, "portal.log"), errors="replace").read()
        print(f"contract: FAILED ({', '.join(failed)}); the portal's log ends:\n{log[-4000:]}", file=sys.stderr)
        sys.exit(1)
    shutil.rmtree(workdir, ignore_errors=True)
    print("contract: the API answers as its document says, in both modes")


if __name__ == "__main__":
    main()

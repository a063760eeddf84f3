"""Schemathesis hooks for the contract test.

Every call of an operation that needs credentials is signed with an API key, as an integration
would sign it, over the request exactly as it is sent (its final path, query string and body
bytes), in the documented form or the original provider's, at random. Schemathesis's own probes
(a call without credentials, or with invalid ones) carry no placeholder, so they go out unsigned
and must be refused.

In positive mode, valid data is also made meaningful where random data cannot be: some calls name
tickets the key's owner sees (random numbers name none), and some FH-AUTH calls carry the demo
user's password, a fresh code or a live token, so that the document's 200 answers are checked too.
"""

import os
import secrets

import requests
import schemathesis
from hypothesis import strategies as st

from signing import authorization

KEY_ID = os.environ["CONTRACT_KEY_ID"]
SECRET = os.environ["CONTRACT_KEY_SECRET"]
BASE = os.environ["CONTRACT_BASE_URL"]
POSITIVE = os.environ.get("CONTRACT_MODE") == "positive"
TICKETS = [t for t in os.environ.get("CONTRACT_TICKETS", "").split(",") if t]
USERNAME = os.environ["CONTRACT_USERNAME"]
PASSWORD = os.environ["CONTRACT_PASSWORD"]
# What the auth provider puts on a case; replaced by a signature when the request is sent.
PLACEHOLDER = "ARMOR-PSK signed-when-sent"


class Sign(requests.auth.AuthBase):
    """ARMOR-PSK over the prepared request: what is signed is what is sent."""

    def __call__(self, request):
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        original = secrets.randbelow(2) == 1
        request.headers["Authorization"] = authorization(KEY_ID, SECRET, request.method, request.path_url, body, original)
        return request


@schemathesis.auth(retry_on=[])
class ArmorPsk:
    def get(self, case, context):
        return PLACEHOLDER

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "Authorization": data}


@schemathesis.hook
def before_call(context, case, kwargs):
    if (case.headers or {}).get("Authorization") == PLACEHOLDER:
        kwargs["auth"] = Sign()


@schemathesis.hook
def before_generate_path_parameters(context, strategy):
    # Only the paths that name a ticket get the visible numbers; the original API calls it
    # `issueKeyId`, ours `number`. Any other path parameter (a file's id) keeps Schemathesis' own.
    operation = context.operation
    if not POSITIVE or not TICKETS or operation is None:
        return strategy
    names = [name for name in ("issueKeyId", "number") if "{" + name + "}" in operation.path]
    if len(names) != 1:
        return strategy
    visible = st.sampled_from(TICKETS).map(lambda number: {names[0]: number})
    return st.one_of(strategy, visible)


def fh_auth_code():
    """A fresh code of step one. Each sign-in comes from an address of its own (the portal runs
    with TRUST_PROXY_HEADERS), so the fuzzed wrong passwords' throttle does not stop it."""
    address = f"198.51.100.{secrets.randbelow(250) + 1}"
    response = requests.post(
        f"{BASE}/auth/authorize",
        json={"username": USERNAME, "password": PASSWORD},
        headers={"x-forwarded-for": address},
        timeout=10,
    )
    return response.json().get("code") if response.status_code == 200 else None


def fh_auth_token():
    code = fh_auth_code()
    if code is None:
        return None
    response = requests.post(f"{BASE}/auth/token", json={"code": code}, timeout=10)
    return response.json().get("access_token") if response.status_code == 200 else None


def sometimes(strategy, make):
    """The generated bodies, and now and then one made by `make` (when it can be)."""
    if not POSITIVE:
        return strategy
    made = st.builds(make).filter(lambda body: body is not None)
    return st.one_of(strategy, made)


@schemathesis.hook("before_generate_body").apply_to(path="/auth/authorize")
def real_password(context, strategy):
    return sometimes(strategy, lambda: {"username": USERNAME, "password": PASSWORD})


@schemathesis.hook("before_generate_body").apply_to(path="/auth/token")
def fresh_code(context, strategy):
    return sometimes(strategy, lambda: (lambda code: code and {"code": code, "grant_type": "authorization_code"})(fh_auth_code()))


@schemathesis.hook("before_generate_body").apply_to(path="/auth/token/reissue")
def live_token(context, strategy):
    return sometimes(strategy, lambda: (lambda token: token and {"token": token})(fh_auth_token()))

"""ARMOR-PSK signatures as an integration computes them, in either form the portal accepts."""

import base64
import hashlib
import hmac
import secrets
import time


def authorization(key_id, secret, method, target, body=b"", original=False):
    """The `Authorization` header of a call: the documented form signs the target with its query
    string and the raw body; the original provider's script signs the path alone and
    base64(SHA-512(body)). Every call has a nonce of its own: the original's script sends the
    timestamp, with which two identical calls in one second are one call and its replay (the
    integration tests prove that rule), and a property-based run sends identical calls often."""
    timestamp = str(int(time.time()))
    nonce = secrets.token_hex(16)
    if original:
        target = target.split("?", 1)[0]
        body = b"" if method == "GET" or not body else base64.b64encode(hashlib.sha512(body).digest())
    message = (key_id + method + target + nonce + timestamp).encode() + body
    signature = base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha512).digest()).decode()
    return f"ARMOR-PSK {key_id}:{signature}:{nonce}:{timestamp}"

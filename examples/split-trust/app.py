"""A split-trust function: the entry portion handles untrusted input with
no network, no secrets and the strict syscall profile; the signer portion
holds the signing key and does one thing with it. The entry reaches the
signer only through ember's platform channel (EMBER_SERVICES_API)."""
import hashlib
import hmac
import json
import os
import urllib.error
import urllib.request

API = "http://" + os.environ["EMBER_SERVICES_API"] + "/2026-01-01"


def channel(path, method="GET", body=None):
    req = urllib.request.Request(API + path, method=method, data=body)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def entry(event, context):
    """Untrusted portion (trust 0): validates input, asks the signer."""
    msg = str(event.get("message", ""))[:1024]
    status, body = channel("/portions/signer/invocations", "POST",
                           json.dumps({"message": msg}).encode())
    if status != 200:
        raise RuntimeError(f"signer refused: {status} {body!r}")
    # Trying to read the key itself is refused: it is not granted here.
    denied, _ = channel("/secrets/signing-key")
    return {"message": msg, "signature": json.loads(body)["signature"], "keyReadableHere": denied == 200}


def signer(event, context):
    """Trusted portion (trust 10): holds the key, signs, nothing else."""
    status, key = channel("/secrets/signing-key")
    if status != 200:
        raise RuntimeError(f"no signing key: {status}")
    sig = hmac.new(key, event["message"].encode(), hashlib.sha256).hexdigest()
    return {"signature": sig}

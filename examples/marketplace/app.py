"""A quote service that serves three ways at once: direct invokes (for its
owner), cross-account aliases (each consumer's own TENANT_TOKEN in the
environment and default parameters merged into the event) and a published
API route (an API Gateway HTTP API payload 2.0 event)."""
import hashlib
import json
import os

PRICES = {"apple": 120, "pear": 95, "plum": 60}


def quote(item, qty, currency):
    cents = PRICES.get(item)
    if cents is None:
        return None
    token = os.environ.get("TENANT_TOKEN")
    return {
        "item": item,
        "qty": qty,
        "total": round(cents * qty / 100, 2),
        "currency": currency,
        # Proof of whose credentials this execution holds, not the value.
        "tenant": hashlib.sha256(token.encode()).hexdigest()[:12] if token else None,
    }


def handler(event, context):
    if isinstance(event, dict) and event.get("version") == "2.0":
        # Behind a published API route: GET /quote/{item}?qty=N
        item = (event.get("pathParameters") or {}).get("item", "")
        qty = int((event.get("queryStringParameters") or {}).get("qty", "1"))
        q = quote(item, qty, "EUR")
        if q is None:
            return {"statusCode": 404, "body": json.dumps({"error": "no such item: " + item})}
        return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(q)}
    q = quote(event.get("item", ""), int(event.get("qty", 1)), event.get("currency", "EUR"))
    if q is None:
        raise ValueError("no such item: %r" % event.get("item"))
    return q

#!/usr/bin/env python3
"""Verifies webhook requests with the Standard Webhooks reference library (PyPI
`standardwebhooks`), an implementation ProISP did not write.

Reads a JSON file: a list of {"secret": "whsec_...", "headers": {...}, "body": "...",
"valid": true|false}. Each request must verify exactly when "valid" says so (the test adds
tampered copies, so a verifier that accepts anything fails). Prints how many were checked;
exits 1 at the first request that does not behave as expected.
"""
import json
import sys

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as f:
        requests = json.load(f)
    for i, r in enumerate(requests):
        try:
            payload = Webhook(r["secret"]).verify(r["body"], r["headers"])
            ok = True
        except WebhookVerificationError as e:
            ok, payload = False, str(e)
        if ok != r["valid"]:
            print(f"request {i}: verified={ok}, expected {r['valid']}: {payload}")
            return 1
        if ok and payload.get("id") != r["headers"]["webhook-id"]:
            print(f"request {i}: webhook-id is not the event's id")
            return 1
    print(f"{len(requests)} requests checked")
    return 0


if __name__ == "__main__":
    sys.exit(main())

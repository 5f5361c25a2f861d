"""A small HTTP client for the tests (the standard library's, as a script would call the API)."""

import json
import urllib.error
import urllib.request


def call(url: str, body: dict | None = None, headers: dict | None = None, timeout: float = 600):
    """(status, parsed JSON) of a GET, or of a POST when `body` is given."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers or {})
    if data is not None:
        request.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())

"""HTTP with the standard library, and URLs (not `http`: that would shadow the standard
library's for a script run from this directory)."""
import json
import urllib.error
import urllib.parse
import urllib.request

from harness import HarnessError


def http(method, url, body=None, timeout=5):
    """(status, body text); `body` is sent as JSON. Connection failures raise OSError."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def get_json(url, timeout=10):
    status, text = http("GET", url, timeout=timeout)
    if status != 200:
        raise HarnessError(f"GET {url}: HTTP {status}: {text[:200]}")
    return json.loads(text)


def url(base, path, **params):
    """base + path, with the parameters that are not None as a query string."""
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    return f"{base}{path}" + (f"?{query}" if query else "")

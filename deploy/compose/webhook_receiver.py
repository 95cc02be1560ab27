#!/usr/bin/env python3
"""Prints every Alertmanager webhook notification it receives as one line, and answers 200.

usage: webhook_receiver.py HOST PORT
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(min(length, 1 << 20))
        try:
            notification = json.loads(body)
            alerts = [
                f'{alert.get("labels", {}).get("alertname")}={alert.get("status")}'
                for alert in notification.get("alerts", [])
            ]
            print(f"path={self.path} status={notification.get('status')} alerts={','.join(alerts)}")
        except (ValueError, AttributeError):
            print(f"path={self.path} unparsable body of {len(body)} bytes")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass  # one line per notification is printed above


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    HTTPServer((sys.argv[1], int(sys.argv[2])), Receiver).serve_forever()

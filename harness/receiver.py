#!/usr/bin/env python3
"""The webhook receiver: Alertmanager's notifications land here (python3 stdlib only).

usage: receiver.py HOST:PORT [NOTIFICATIONS.jsonl]

The kit's Alertmanager config sends pages to /page, tickets to /ticket and the heartbeat to
/heartbeat. Every notification is printed as one line per alert (receiver, status, alert name,
severity, instance, summary) and, given a file, appended to it as one JSON object, which the
demo shows as it arrives and the drills read to assert what reached a human. GET / answers a
short text, for readiness checks.

One file with no import of the harness: the demo and the drills run it (harness/stack.py), and
deploy/compose/docker-compose.yml mounts it into a plain Python container.
"""
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer


def summarise(path, notification, now=None):
    """One record per notification: what a pager or a ticket queue would have received."""
    return {
        "time": time.time() if now is None else now,
        "receiver": path.strip("/"),
        "status": notification.get("status"),
        "alerts": [
            {
                "alertname": alert.get("labels", {}).get("alertname"),
                "severity": alert.get("labels", {}).get("severity"),
                "instance": alert.get("labels", {}).get("instance"),
                "status": alert.get("status"),
                "summary": alert.get("annotations", {}).get("summary"),
            }
            for alert in notification.get("alerts", [])
        ],
    }


def lines(record):
    """The printed lines of a record, one per alert."""
    stamp = time.strftime("%H:%M:%S", time.localtime(record["time"]))
    return [f"{stamp} receiver={record['receiver']} status={alert['status']} "
            f"alertname={alert['alertname']} severity={alert['severity']} "
            f"instance={alert['instance'] or '-'} summary={alert['summary']!r}"
            for alert in record["alerts"]]


class Receiver(BaseHTTPRequestHandler):
    notifications_path = None

    def do_GET(self):
        self.answer(200, b"syseng webhook receiver: POST Alertmanager webhooks to /page or "
                         b"/ticket\n")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, 1 << 20))
        try:
            record = summarise(self.path, json.loads(body))
        except (ValueError, AttributeError) as error:
            print(f"receiver={self.path.strip('/')} unreadable notification of {len(body)} "
                  f"bytes: {error}", flush=True)
            self.answer(400, b"not an Alertmanager webhook\n")
            return
        for line in lines(record):
            print(line, flush=True)
        if self.notifications_path:
            with open(self.notifications_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
        self.answer(200, b"")

    def answer(self, status, body):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass  # the lines above are the log


def main(argv):
    if len(argv) not in (2, 3) or ":" not in argv[1]:
        sys.exit(__doc__.strip().split("\n\n")[1])
    host, _, port = argv[1].rpartition(":")
    Receiver.notifications_path = argv[2] if len(argv) == 3 else None
    HTTPServer((host, int(port)), Receiver).serve_forever()


if __name__ == "__main__":
    main(sys.argv)

"""A stand-in app that serves /metrics in one of the two forms the API metrics contract allows,
on 127.0.0.1 only, its counters growing at a fixed rate from the moment it starts.

    python -m tests.integration.metrics_app seed PORT      # the seed's FreePascal API (README of ../shared/seed):
                                                           # api_requests_total, api_response_time_seconds_sum/_count
    python -m tests.integration.metrics_app podinfo PORT   # http_requests_total{status}, a latency histogram

Both answer 10 requests a second; the seed's take 0.8 s each, podinfo's 2.5 s with 10 % of 5xx.
"""

from __future__ import annotations

import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

START = time.monotonic()
RATE = 10.0


def seed(elapsed: float) -> str:
    count = RATE * elapsed
    return (
        "# HELP api_requests_total Total API requests\n# TYPE api_requests_total counter\n"
        f"api_requests_total {count:.0f}\n"
        "# HELP api_response_time_seconds API response time\n# TYPE api_response_time_seconds summary\n"
        f"api_response_time_seconds_sum {0.8 * count:.3f}\napi_response_time_seconds_count {count:.0f}\n"
    )


def podinfo(elapsed: float) -> str:
    count = RATE * elapsed
    lines = ["# TYPE http_requests_total counter"]
    lines += [f'http_requests_total{{status="200"}} {0.9 * count:.0f}', f'http_requests_total{{status="500"}} {0.1 * count:.0f}']
    lines.append("# TYPE http_request_duration_seconds histogram")
    for bound, share in (("0.5", 0.0), ("1", 0.0), ("5", 1.0), ("+Inf", 1.0)):
        lines.append(f'http_request_duration_seconds_bucket{{le="{bound}"}} {share * count:.0f}')
    lines += [f"http_request_duration_seconds_sum {2.5 * count:.3f}", f"http_request_duration_seconds_count {count:.0f}"]
    return "\n".join(lines) + "\n"


FORMS = {"seed": seed, "podinfo": podinfo}


def main() -> None:
    form, port = FORMS[sys.argv[1]], int(sys.argv[2])

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/metrics":
                self.send_error(404)
                return
            body = form(time.monotonic() - START).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()

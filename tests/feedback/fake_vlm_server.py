"""A small local OpenAI-compatible chat server standing in for a VLM in tests (stdlib only).

It "sees" the test images: each frame carries a red bar across its middle row whose length (as a
fraction of the width) is the frame's hidden score.  Replies follow a rule:

* a request with two images (stage 1, or the single-call variant) gets an analysis naming both
  bar lengths and a reference of the pair, then a last line with the label;
* a text-only request (stage 2) reads the two lengths back from the analysis and answers with a
  single line: 0 if bar 1 is longer by more than ``tie``, 1 if bar 2 is, else -1 (also when the
  analysis cannot be read).

Faults, drawn per request with probability ``fault_rate``: ``429`` (with Retry-After), ``500``
(its message ``error_text(n, token)`` when given: the n-th request's error text, which may echo the
bearer token as some providers do), ``hang`` (answers after ``hang_s``, past the client's timeout),
``malformed`` (a 200 whose text is not a clean label / not a readable analysis) and ``empty`` (a
200 with no ``choices`` or an empty message).  Every request is logged (kind, pair reference,
fault) so tests can count what reached the server.  Binds 127.0.0.1 on an ephemeral port; every
loop is bounded (requests per connection, idle socket timeout, hang length).

The same server speaks OpenAI's Files and Batches API (:mod:`fake_batch_api`): a batch's requests
are answered by the same rule, and logged with ``via="batch"``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import struct
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from fake_batch_api import FakeBatchAPI

FAULTS = ("429", "500", "hang", "malformed")  # "empty" is drawn only when named in ``faults``
_MEASURE = re.compile(r"Image 1: red bar covering ([0-9.]+).*?Image 2: red bar covering ([0-9.]+)", re.S)
_REF = re.compile(r"ref=([0-9a-f]{16})")


# -- PNG decoding (8-bit RGB / RGBA, non-interlaced) -----------------------------------------------
def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def decode_png(data: bytes) -> tuple[int, int, list[bytearray]]:
    """(width, height, rows of RGB bytes)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat = 8, b""
    width = height = channels = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        ctype = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if ctype == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or color not in (2, 6) or interlace:
                raise ValueError("only 8-bit RGB/RGBA non-interlaced PNGs are supported")
            channels = 3 if color == 2 else 4
        elif ctype == b"IDAT":
            idat += body
        elif ctype == b"IEND":
            break
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if f == 1:
            for x in range(channels, stride):
                line[x] = (line[x] + line[x - channels]) & 255
        elif f == 2:
            for x in range(stride):
                line[x] = (line[x] + prev[x]) & 255
        elif f == 3:
            for x in range(stride):
                left = line[x - channels] if x >= channels else 0
                line[x] = (line[x] + ((left + prev[x]) >> 1)) & 255
        elif f == 4:
            for x in range(stride):
                left = line[x - channels] if x >= channels else 0
                up_left = prev[x - channels] if x >= channels else 0
                line[x] = (line[x] + _paeth(left, prev[x], up_left)) & 255
        rows.append(line if channels == 3 else bytearray(
            b for i in range(0, stride, 4) for b in line[i:i + 3]))
        prev = line
    return width, height, rows


def bar_length(data_url: str) -> float:
    """Fraction of the middle row that is red (R > 128, G < 100)."""
    png = base64.b64decode(data_url.split(",", 1)[1])
    w, h, rows = decode_png(png)
    row = rows[h // 2]
    red = sum(1 for x in range(w) if row[3 * x] > 128 and row[3 * x + 1] < 100)
    return red / w


def rule_label(s0: float, s1: float, tie: float) -> int:
    return 0 if s0 - s1 > tie else (1 if s1 - s0 > tie else -1)


class FakeVLMServer:
    def __init__(self, latency_s: float = 0.0, fault_rate: float = 0.0, faults=FAULTS,
                 retry_after: str = "1", hang_s: float = 3.0, tie: float = 0.0, seed: int = 0,
                 api_key: str | None = None, max_requests_per_connection: int = 10000,
                 measure: bool = True, batch_steps: int = 1, batch_fault_rate: float = 0.0,
                 error_text=None):
        self.latency_s = latency_s
        self.fault_rate = fault_rate
        self.faults = tuple(faults)
        self.retry_after = retry_after
        self.hang_s = min(hang_s, 30.0)
        self.tie = tie
        self.api_key = api_key
        self.error_text = error_text  # (request number, bearer token) -> a 500's message
        self.measure = measure  # False: do not decode images (benchmarks), report 0.5 for both
        self.max_requests_per_connection = max_requests_per_connection
        self._rng = random.Random(seed)
        self.lock = threading.Lock()
        self.log: list[dict] = []
        self.batch = FakeBatchAPI(self.complete, self._record, steps=batch_steps,
                                  fault_rate=batch_fault_rate, seed=seed)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> "FakeVLMServer":
        server = self

        class Handler(_Handler):
            owner = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "FakeVLMServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    # -- counting ----------------------------------------------------------------------------
    def records(self, kind: str | None = None, fault: str | None | bool = False) -> list[dict]:
        """Logged requests; ``fault=False``: any, ``None``: only clean ones, else that fault."""
        with self.lock:
            recs = list(self.log)
        return [r for r in recs if (kind is None or r["kind"] == kind)
                and (fault is False or r["fault"] == fault)]

    def _record(self, entry: dict) -> None:
        with self.lock:
            self.log.append({"ref": None, "fault": None, "auth_ok": True, "via": "chat",
                             "time": time.time(), **entry})

    def _draw_fault(self) -> str | None:
        with self.lock:
            if self.fault_rate > 0 and self._rng.random() < self.fault_rate:
                return self._rng.choice(self.faults)
        return None

    # -- the rule ----------------------------------------------------------------------------
    def answer(self, body: dict) -> tuple[str, str, str | None]:
        """(kind, pair ref, reply text) for a chat request."""
        content = body["messages"][-1]["content"]
        if isinstance(content, list):
            images = [p["image_url"]["url"] for p in content if p.get("type") == "image_url"]
        else:
            images = []
        if len(images) == 2:
            ref = hashlib.sha256((images[0] + "|" + images[1]).encode()).hexdigest()[:16]
            s0, s1 = (bar_length(images[0]), bar_length(images[1])) if self.measure else (0.5, 0.5)
            text = (f"Image 1: red bar covering {s0:.4f} of the width.\n"
                    f"Image 2: red bar covering {s1:.4f} of the width.\nref={ref}\n"
                    f"{rule_label(s0, s1, self.tie)}")
            return "vision", ref, text
        text = content if isinstance(content, str) else " ".join(
            p.get("text", "") for p in content if isinstance(p, dict))
        m, r = _MEASURE.search(text), _REF.search(text)
        label = rule_label(float(m.group(1)), float(m.group(2)), self.tie) if m else -1
        return "text", (r.group(1) if r else None), str(label)

    def completion_body(self, body: dict, kind: str, text: str) -> dict:
        """A chat completion replying ``text`` (usage grows with the request's size)."""
        prompt_tokens = 50 + len(json.dumps(body)) // 400
        return {
            "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 10 + len(text) // 4,
                      "total_tokens": prompt_tokens + 10 + len(text) // 4},
        }

    def complete(self, body: dict, fault: str | None) -> dict:
        """Answer one request of a batch (logged with ``via="batch"``)."""
        kind, ref, text = self.answer(body)
        self._record({"kind": kind, "ref": ref, "fault": fault, "via": "batch"})
        return self.completion_body(body, kind, text)


class _Handler(BaseHTTPRequestHandler):
    owner: FakeVLMServer
    protocol_version = "HTTP/1.1"
    timeout = 20  # idle keep-alive sockets are closed after this many seconds
    disable_nagle_algorithm = True  # headers and body go out in two writes

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def handle(self) -> None:
        self.close_connection = True
        self.handle_one_request()
        served = 1
        while not self.close_connection and served < self.owner.max_requests_per_connection:
            self.handle_one_request()
            served += 1

    def _send(self, status: int, payload: dict | bytes, headers: dict | None = None) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream" if isinstance(payload, bytes)
                             else "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _auth_ok(self) -> bool:
        key = self.owner.api_key
        return key is None or self.headers.get("Authorization") == f"Bearer {key}"

    def _refuse(self) -> None:
        self._send(401, {"error": {"message": "invalid api key", "type": "invalid_request_error"}})

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        api, parts = self.owner.batch, self.path.split("?")[0].rstrip("/").split("/")
        if not self._auth_ok():
            self._refuse()
            return
        if parts[-2:-1] == ["files"]:
            self._send(*api.file_object(parts[-1]))
        elif parts[-3:-2] == ["files"] and parts[-1] == "content":
            data = api.file_content(parts[-2])
            if data is None:
                self._send(404, {"error": {"message": f"no file {parts[-2]}"}})
            else:
                self._send(200, data)
        elif parts[-2:-1] == ["batches"]:
            self._send(*api.retrieve(parts[-1]))
        elif parts[-1] == "batches":
            self._send(200, api.list())
        else:
            self._send(404, {"error": {"message": f"no route {self.path}"}})

    def _batch_post(self, raw: bytes) -> None:
        api, parts = self.owner.batch, self.path.split("?")[0].rstrip("/").split("/")
        if not self._auth_ok():
            self._refuse()
        elif parts[-1] == "files":
            self._send(*api.upload(self.headers.get("Content-Type", ""), raw))
        elif parts[-1] == "batches":
            self._send(*api.create(json.loads(raw or b"{}")))
        elif parts[-3:-2] == ["batches"] and parts[-1] == "cancel":
            self._send(*api.cancel(parts[-2]))
        else:
            self._send(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        owner = self.owner
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        if not self.path.rstrip("/").endswith("chat/completions"):
            self._batch_post(raw)
            return
        body = json.loads(raw or b"{}")
        auth_ok = self._auth_ok()
        kind, ref, text = owner.answer(body)
        fault = owner._draw_fault()
        owner._record({"kind": kind, "ref": ref, "fault": fault, "auth_ok": auth_ok})
        if not auth_ok:
            self._refuse()
            return
        if owner.latency_s:
            time.sleep(owner.latency_s)
        if fault == "429":
            self._send(429, {"error": {"message": "rate limited", "type": "rate_limit_error"}},
                       {"Retry-After": owner.retry_after})
            return
        if fault == "500":
            token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
            text = owner.error_text(len(owner.log), token) if owner.error_text else "internal error"
            self._send(500, {"error": {"message": text, "type": "server_error"}})
            return
        if fault == "empty":  # a 200 with nothing to read: no choices, or an empty message
            reply = owner.completion_body(body, kind, "")
            if len(owner.log) % 2:
                reply["choices"] = []
            self._send(200, reply)
            return
        if fault == "hang":
            time.sleep(owner.hang_s)
        if fault == "malformed":
            text = ("Hmm, hard to say, perhaps the second one?" if kind == "text"
                    else "I cannot describe these pictures.")
        self._send(200, owner.completion_body(body, kind, text))

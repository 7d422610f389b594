"""OpenAI-compatible Files and Batches endpoints for the fake VLM server (stdlib only).

Served by :class:`fake_vlm_server.FakeVLMServer` beside its chat endpoint, so litellm's
``create_file`` / ``create_batch`` / ``retrieve_batch`` / ``file_content`` / ``cancel_batch`` work
against it:

* ``POST /v1/files`` (multipart: ``purpose``, ``file``), ``GET /v1/files/{id}``,
  ``GET /v1/files/{id}/content``;
* ``POST /v1/batches`` (``input_file_id``, ``endpoint``, ``completion_window``, ``metadata``),
  ``GET /v1/batches/{id}``, ``GET /v1/batches``, ``POST /v1/batches/{id}/cancel``.

A batch advances one step per retrieve after ``steps`` retrieves in each state:
``validating`` -> ``in_progress`` (``request_counts.completed`` grows) -> ``completed``, or
``failed`` when the input file is not valid batch JSONL (one model, unique ``custom_id``, method
POST, the batch's endpoint).  On completion every request is answered by the chat endpoint's rule;
the output file holds one JSONL line per answered request ``{"id", "custom_id", "response":
{"status_code": 200, "request_id", "body": <chat completion>}, "error": null}``, and requests
drawn as faults (``fault_rate``) go to the error file with status 500.  ``hold = True`` keeps
batches in progress until it is set back to False (for kill / restart tests).
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import random
import threading
import time
from typing import Callable

ENDPOINTS = ("/v1/chat/completions",)


class FakeBatchAPI:
    def __init__(self, complete: Callable[[dict, str | None], dict], log: Callable[[dict], None],
                 steps: int = 1, fault_rate: float = 0.0, seed: int = 0):
        self.complete = complete  # (chat request body, fault) -> chat completion body
        self.log = log
        self.steps = max(1, steps)
        self.fault_rate = fault_rate
        self.hold = False
        self._rng = random.Random(seed)
        self._ids = itertools.count(1)
        self.lock = threading.RLock()
        self.files: dict[str, dict] = {}
        self.batches: dict[str, dict] = {}

    def _log(self, kind: str, ref: str, **extra) -> None:
        self.log({"kind": kind, "ref": ref, "via": "batch", **extra})

    # -- files ------------------------------------------------------------------------------
    def _new_id(self, prefix: str) -> str:
        return f"{prefix}-fake{next(self._ids):06d}"

    def _store_file(self, data: bytes, filename: str, purpose: str) -> dict:
        fid = self._new_id("file")
        obj = {"id": fid, "object": "file", "bytes": len(data), "created_at": int(time.time()),
               "filename": filename, "purpose": purpose, "status": "processed"}
        with self.lock:
            self.files[fid] = {"object": obj, "data": data}
        return obj

    def upload(self, content_type: str, body: bytes) -> tuple[int, dict]:
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
        fields: dict[str, tuple[str | None, bytes]] = {}
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            fields[name] = (part.get_filename(), part.get_payload(decode=True) or b"")
        if "file" not in fields or "purpose" not in fields:
            return 400, {"error": {"message": "multipart fields 'file' and 'purpose' are required"}}
        filename, data = fields["file"]
        obj = self._store_file(data, filename or "upload.jsonl", fields["purpose"][1].decode())
        self._log("file_upload", obj["id"])
        return 200, obj

    def file_object(self, fid: str) -> tuple[int, dict]:
        with self.lock:
            f = self.files.get(fid)
        return (200, f["object"]) if f else (404, {"error": {"message": f"no file {fid}"}})

    def file_content(self, fid: str) -> bytes | None:
        with self.lock:
            f = self.files.get(fid)
        if f is not None:
            self._log("file_content", fid)
        return None if f is None else f["data"]

    # -- batches ----------------------------------------------------------------------------
    def create(self, body: dict) -> tuple[int, dict]:
        fid, endpoint = body.get("input_file_id"), body.get("endpoint")
        with self.lock:
            known = fid in self.files
        if not known:
            return 404, {"error": {"message": f"no file {fid}"}}
        if endpoint not in ENDPOINTS:
            return 400, {"error": {"message": f"endpoint must be one of {ENDPOINTS}"}}
        now = int(time.time())
        bid = self._new_id("batch")
        batch = {"id": bid, "object": "batch", "endpoint": endpoint, "errors": None,
                 "input_file_id": fid, "completion_window": body.get("completion_window", "24h"),
                 "status": "validating", "output_file_id": None, "error_file_id": None,
                 "created_at": now, "in_progress_at": None, "expires_at": now + 86400,
                 "finalizing_at": None, "completed_at": None, "failed_at": None, "expired_at": None,
                 "cancelling_at": None, "cancelled_at": None,
                 "request_counts": {"total": 0, "completed": 0, "failed": 0},
                 "metadata": body.get("metadata") or {}}
        with self.lock:
            self.batches[bid] = {"object": batch, "polls": 0}
        self._log("batch_create", bid)
        return 200, dict(batch)

    def list(self) -> dict:
        with self.lock:
            data = [dict(b["object"]) for b in self.batches.values()]
        return {"object": "list", "data": data, "has_more": False}

    def cancel(self, bid: str) -> tuple[int, dict]:
        with self.lock:
            b = self.batches.get(bid)
            if b is None:
                return 404, {"error": {"message": f"no batch {bid}"}}
            if b["object"]["status"] in ("validating", "in_progress"):
                b["object"].update(status="cancelled", cancelled_at=int(time.time()))
            return 200, dict(b["object"])

    def retrieve(self, bid: str) -> tuple[int, dict]:
        with self.lock:
            b = self.batches.get(bid)
            if b is None:
                return 404, {"error": {"message": f"no batch {bid}"}}
            self._log("batch_retrieve", bid)
            self._advance(b)
            return 200, json.loads(json.dumps(b["object"]))

    def _advance(self, b: dict) -> None:
        obj = b["object"]
        status = obj["status"]
        if status == "validating":
            b["polls"] += 1
            if b["polls"] >= self.steps:
                requests, error = self._validate(obj)
                if error:
                    obj.update(status="failed", failed_at=int(time.time()),
                               errors={"object": "list", "data": [error]})
                else:
                    b.update(polls=0, requests=requests)
                    obj.update(status="in_progress", in_progress_at=int(time.time()),
                               request_counts={"total": len(requests), "completed": 0, "failed": 0})
        elif status == "in_progress" and not self.hold:
            b["polls"] += 1
            total = obj["request_counts"]["total"]
            if b["polls"] >= self.steps:
                self._finish(b)
            else:
                obj["request_counts"]["completed"] = total * b["polls"] // self.steps

    def _validate(self, obj: dict) -> tuple[list[dict], dict | None]:
        with self.lock:
            data = self.files[obj["input_file_id"]]["data"]
        requests, ids, models = [], set(), set()
        for n, line in enumerate(data.decode().splitlines(), 1):
            if not line.strip():
                continue
            try:
                req = json.loads(line)
            except json.JSONDecodeError:
                return [], {"code": "invalid_json_line", "message": "not JSON", "line": n}
            cid = req.get("custom_id")
            if not cid or cid in ids:
                return [], {"code": "duplicate_custom_id", "message": f"custom_id {cid!r}", "line": n}
            if req.get("method") != "POST" or req.get("url") != obj["endpoint"]:
                return [], {"code": "invalid_request", "message": "method/url", "line": n}
            ids.add(cid)
            models.add((req.get("body") or {}).get("model"))
            requests.append(req)
        if len(models) > 1:
            return [], {"code": "mismatched_model", "message": f"models {sorted(map(str, models))}",
                        "line": None}
        if not requests:
            return [], {"code": "empty_file", "message": "no requests", "line": None}
        return requests, None

    def _finish(self, b: dict) -> None:
        obj = b["object"]
        out, err = [], []
        for req in b["requests"]:
            fault = "500" if self.fault_rate and self._rng.random() < self.fault_rate else None
            line = {"id": self._new_id("batch_req"), "custom_id": req["custom_id"], "error": None}
            if fault:
                line["response"] = {"status_code": 500, "request_id": line["id"],
                                    "body": {"error": {"message": "internal error",
                                                       "type": "server_error"}}}
                self._log("batch_fault", req["custom_id"], fault=fault)
                err.append(line)
            else:
                line["response"] = {"status_code": 200, "request_id": line["id"],
                                    "body": self.complete(req["body"], None)}
                out.append(line)

        def jsonl(lines: list[dict]) -> bytes:
            return "".join(json.dumps(x) + "\n" for x in lines).encode()

        now = int(time.time())
        if out:
            obj["output_file_id"] = self._store_file(jsonl(out), "batch_output.jsonl", "batch_output")["id"]
        if err:
            obj["error_file_id"] = self._store_file(jsonl(err), "batch_errors.jsonl", "batch_output")["id"]
        obj.update(status="completed", finalizing_at=now, completed_at=now,
                   request_counts={"total": len(b["requests"]), "completed": len(out), "failed": len(err)})

"""litellm's batch functions (files + batches) driven against the fake server's stand-in."""

import json

import numpy as np
import pytest

from feedback_helpers import TASK, rule_labels
from orlvlmf.data.dataset import OfflineDataset
from orlvlmf.feedback.backends.vlm import import_litellm
from orlvlmf.feedback.images import encode_png, png_data_url
from orlvlmf.feedback.prompts import vision_messages
from orlvlmf.feedback.sampling import sample_pairs

KEY = "sk-batch-test-0123456789"


def batch_jsonl(ds_path, n, model="fake-vlm", duplicate=False):
    """(JSONL bytes of single-call vision requests for n pairs, idx0, idx1)."""
    ds = OfflineDataset.open(ds_path)
    p = sample_pairs(ds, n, min_gap=2, seed=0)
    lines = []
    for k, (i, j) in enumerate(zip(p.idx0.tolist(), p.idx1.tolist())):
        a, b = ds.next_observations("image", np.asarray([i, j]))
        msgs = vision_messages(TASK, png_data_url(encode_png(a, 32)), png_data_url(encode_png(b, 32)),
                               "v1", single=True)
        cid = "q0" if duplicate else f"q{k}"
        lines.append({"custom_id": cid, "method": "POST", "url": "/v1/chat/completions",
                      "body": {"model": model, "messages": msgs, "max_tokens": 100}})
    return "".join(json.dumps(x) + "\n" for x in lines).encode(), p.idx0, p.idx1


def submit(litellm, srv, data):
    kw = dict(custom_llm_provider="openai", api_base=srv.url, api_key=KEY)
    f = litellm.create_file(file=("requests.jsonl", data), purpose="batch", **kw)
    b = litellm.create_batch(completion_window="24h", endpoint="/v1/chat/completions",
                             input_file_id=f.id, metadata={"run": "test"}, **kw)
    return kw, f, b


def poll(litellm, kw, batch_id, limit=20):
    seen = []
    for _ in range(limit):
        r = litellm.retrieve_batch(batch_id=batch_id, **kw)
        seen.append((r.status, r.request_counts.completed))
        if r.status in ("completed", "failed", "cancelled"):
            return r, seen
    raise AssertionError(f"batch still {seen[-1]} after {limit} polls")


def test_batch_round_trip_answers_each_request_once_by_the_chat_rule(bar_dataset, fake_server):
    litellm = import_litellm()
    srv = fake_server(api_key=KEY, batch_steps=3)
    data, idx0, idx1 = batch_jsonl(bar_dataset, 12)
    kw, f, b = submit(litellm, srv, data)
    assert f.purpose == "batch" and f.bytes == len(data)
    assert b.status == "validating" and b.input_file_id == f.id and b.metadata == {"run": "test"}
    done, seen = poll(litellm, kw, b.id)
    statuses = [s for s, _ in seen]
    assert statuses == ["validating"] * 2 + ["in_progress"] * 3 + ["completed"]
    progress = [c for s, c in seen if s == "in_progress"]
    assert progress == [0, 4, 8]  # request_counts.completed grows while in progress
    assert done.request_counts.total == done.request_counts.completed == 12 and done.error_file_id is None
    out = litellm.file_content(file_id=done.output_file_id, **kw).content
    rows = {r["custom_id"]: r for r in map(json.loads, out.decode().splitlines())}
    assert len(rows) == 12 and all(r["response"]["status_code"] == 200 for r in rows.values())
    labels = [int(rows[f"q{k}"]["response"]["body"]["choices"][0]["message"]["content"].splitlines()[-1])
              for k in range(12)]
    assert labels == rule_labels(bar_dataset, idx0, idx1).tolist()
    assert rows["q0"]["response"]["body"]["usage"]["prompt_tokens"] > 0
    answered = srv.records("vision")
    assert len(answered) == 12 and {r["via"] for r in answered} == {"batch"}
    assert len(srv.records("batch_create")) == 1
    # polling a finished batch again changes nothing and answers nothing again
    assert litellm.retrieve_batch(batch_id=b.id, **kw).status == "completed"
    assert len(srv.records("vision")) == 12


def test_failed_requests_go_to_the_error_file(bar_dataset, fake_server):
    litellm = import_litellm()
    srv = fake_server(api_key=KEY, batch_fault_rate=1.0)
    kw, _, b = submit(litellm, srv, batch_jsonl(bar_dataset, 4)[0])
    done, _ = poll(litellm, kw, b.id)
    assert done.status == "completed" and done.output_file_id is None
    assert (done.request_counts.completed, done.request_counts.failed) == (0, 4)
    errs = [json.loads(x) for x in litellm.file_content(file_id=done.error_file_id, **kw).content.splitlines()]
    assert sorted(e["custom_id"] for e in errs) == [f"q{k}" for k in range(4)]
    assert {e["response"]["status_code"] for e in errs} == {500}


def test_invalid_input_fails_validation_and_hold_and_cancel(bar_dataset, fake_server):
    litellm = import_litellm()
    srv = fake_server(api_key=KEY)
    kw, _, b = submit(litellm, srv, batch_jsonl(bar_dataset, 3, duplicate=True)[0])
    done, _ = poll(litellm, kw, b.id)
    assert done.status == "failed" and done.errors.data[0].code == "duplicate_custom_id"
    srv.batch.hold = True
    kw, _, b = submit(litellm, srv, batch_jsonl(bar_dataset, 3)[0])
    for _ in range(5):
        r = litellm.retrieve_batch(batch_id=b.id, **kw)
    assert r.status == "in_progress" and len(srv.records("vision")) == 0
    assert litellm.cancel_batch(batch_id=b.id, **kw).status == "cancelled"
    assert litellm.retrieve_batch(batch_id=b.id, **kw).status == "cancelled"


def test_wrong_key_is_refused(fake_server):
    litellm = import_litellm()
    srv = fake_server(api_key=KEY)
    with pytest.raises(Exception) as err:
        litellm.create_file(file=("r.jsonl", b"{}\n"), purpose="batch", custom_llm_provider="openai",
                            api_base=srv.url, api_key="sk-wrong-key-000000")
    assert getattr(err.value, "status_code", None) == 401 or "401" in str(err.value)
    assert srv.batch.files == {}

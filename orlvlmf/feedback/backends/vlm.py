"""VLM feedback through litellm: two-stage (or single-call) preference queries, async and durable.

Flow per query (two-stage, as in RL-VLM-F): stage 1 sends the goal text and the two frames
(Image 1, Image 2) and asks for an analysis; stage 2 sends the analysis alone and asks for one
line: 0 / 1 / -1 (see :mod:`orlvlmf.feedback.prompts`, :mod:`orlvlmf.feedback.parsing`).  The
analysis is committed to the store as soon as it arrives, so an interrupted run only re-sends
the stage-2 call; the label is committed the moment it arrives.

Scheduling: ``concurrency`` workers, each with at most one request in flight; a producer thread
reads and encodes the frames ahead of them.  Each call has a timeout (``timeout_s``); rate limits
(429), server errors (5xx, 408, 409), timeouts and dropped connections are retried up to
``max_retries`` times, waiting ``Retry-After`` when the server gives it, else
``min(max_backoff_s, backoff_s * 2**attempt) * U(0.5, 1.5)``.  Other 4xx errors fail the query
(stored as ``failed``, asked again next run); 401 / 403 / 404 abort the run with a clear message.

Budget: before a query starts, the run stops cleanly when ``max_queries`` queries were started or
when spent + (in flight + 1) * mean cost per query would pass ``max_cost_usd`` (so it stays within
the cap up to the estimate's error).  The API key is read from the environment variable named by
``api_key_env`` at call time, passed to litellm and never stored, logged or put in messages.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass

from orlvlmf.feedback.backends.base import BackendStats, LabelingAborted, PairSource, Query
from orlvlmf.feedback.config import LiteLLMConfig
from orlvlmf.feedback.images import encode_png, png_data_url
from orlvlmf.feedback.parsing import parse_label, parse_last_line
from orlvlmf.feedback.prompts import get_prompts, label_messages, vision_messages
from orlvlmf.registry import register

PROGRESS_EVERY_S = 10.0
SESSION_UPDATE_EVERY_S = 2.0
MAX_RETRY_AFTER_S = 600.0
_KEYLIKE = re.compile(r"\b(sk|key|pk|rk)-[A-Za-z0-9_\-*.]{6,}")


def import_litellm():
    """litellm, configured quietly (imported only here: it takes seconds)."""
    # litellm fetches its price table from the network at import unless told not to; use the
    # copy it ships (export LITELLM_LOCAL_MODEL_COST_MAP=False for the remote one).
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    litellm.turn_off_message_logging = True  # callbacks never see prompts or images
    litellm.drop_params = True  # e.g. temperature on models that reject it: dropped, not a 400
    return litellm


def redact(text: str, secret: str | None) -> str:
    """``text`` with the secret and anything shaped like an API key masked."""
    if secret and secret != "EMPTY":
        text = text.replace(secret, "***")
    return _KEYLIKE.sub(lambda m: m.group(1) + "-***", text)


class _Fatal(Exception):
    pass


class _CallFailed(Exception):
    def __init__(self, message: str, calls: int, retries: int):
        super().__init__(message)
        self.calls, self.retries = calls, retries


@dataclass
class _CallResult:
    text: str
    prompt_tokens: int
    completion_tokens: int
    cost: float | None
    calls: int
    retries: int


def _retry_after(err: Exception) -> float | None:
    """Seconds from a Retry-After / retry-after-ms header on the error's response, if any."""
    for headers in (getattr(getattr(err, "response", None), "headers", None),
                    getattr(err, "litellm_response_headers", None)):
        if not headers:
            continue
        try:
            ms = headers.get("retry-after-ms")
            if ms is not None:
                return max(0.0, float(ms) / 1000.0)
            value = headers.get("retry-after")
        except Exception:
            continue
        if value is None:
            continue
        try:
            return max(0.0, float(value))
        except ValueError:
            from email.utils import parsedate_to_datetime

            try:
                return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
            except Exception:
                continue
    return None


def classify(err: Exception) -> tuple[str, bool]:
    """(kind, retryable); kind 'fatal' aborts the whole run."""
    if isinstance(err, asyncio.TimeoutError):
        return "timeout", True
    status = getattr(err, "status_code", None)
    name = type(err).__name__
    if "Timeout" in name:
        return "timeout", True
    if status == 429 or "RateLimit" in name:
        return "rate_limit", True
    if status in (401, 403, 404) or name in ("AuthenticationError", "PermissionDeniedError",
                                             "NotFoundError"):
        return "fatal", False
    if "missing credentials" in str(err).lower():  # no key at all: no retry can help
        return "fatal", False
    if isinstance(status, int) and (status >= 500 or status in (408, 409)):
        return f"http_{status}", True
    if "APIConnectionError" in name or "ServiceUnavailable" in name or "InternalServerError" in name:
        return "connection", True
    if isinstance(status, int) and 400 <= status < 500:
        return f"http_{status}", False
    return name, True


@register("feedback", "litellm", config=LiteLLMConfig)
class LiteLLMBackend:
    """Preference queries to any model litellm accepts; see the module docstring."""

    needs_ground_truth = False

    def __init__(self, **options):
        self.cfg = LiteLLMConfig(**options)
        c = self.cfg
        get_prompts(c.prompt_version)  # unknown version -> clear error now
        for name in ("concurrency", "image_size", "max_tokens"):
            if getattr(c, name) < 1:
                raise ValueError(f"feedback.{name} must be >= 1, got {getattr(c, name)}")
        if c.timeout_s <= 0 or c.max_retries < 0 or c.backoff_s < 0:
            raise ValueError("feedback.timeout_s must be > 0, max_retries and backoff_s >= 0")
        if (c.input_usd_per_mtok is None) != (c.output_usd_per_mtok is None):
            raise ValueError("set both feedback.input_usd_per_mtok and feedback.output_usd_per_mtok, "
                             "or neither (then litellm's price table is used)")
        self._rng = random.Random(0)
        self._unpriced = False

    @property
    def model(self) -> str:
        return self.cfg.model

    def identity(self) -> dict:
        c = self.cfg
        return {"backend": "litellm", "model": c.model, "api_base": c.api_base,
                "prompt_version": c.prompt_version, "two_stage": c.two_stage,
                "image_size": c.image_size, "temperature": c.temperature}

    # -- setup --------------------------------------------------------------------------------
    def _api_key(self) -> str | None:
        env = self.cfg.api_key_env
        if not env:
            # a local OpenAI-compatible server (vLLM, Ollama) needs no key, but the client wants one
            if self.cfg.api_base and self.cfg.model.startswith("openai/") and not os.environ.get("OPENAI_API_KEY"):
                return "EMPTY"
            return None
        key = os.environ.get(env)
        if not key:
            raise LabelingAborted(
                f"environment variable {env} (named by feedback.api_key_env) is not set: export "
                f"{env}=<your key> before labeling; keys are never read from config files")
        return key

    def _check_pricing(self, litellm) -> None:
        c = self.cfg
        if c.max_cost_usd is None or c.input_usd_per_mtok is not None:
            return
        try:
            litellm.get_model_info(c.model)
        except Exception:
            raise LabelingAborted(
                f"feedback.max_cost_usd is set but litellm has no price for model '{c.model}', so "
                f"the cap cannot be enforced. Set feedback.input_usd_per_mtok and "
                f"feedback.output_usd_per_mtok (USD per million tokens) or drop the cap") from None

    def _cost(self, litellm, resp) -> float | None:
        c = self.cfg
        if self._unpriced:
            return None
        try:
            if c.input_usd_per_mtok is not None:
                return float(litellm.completion_cost(
                    completion_response=resp,
                    custom_cost_per_token={"input_cost_per_token": c.input_usd_per_mtok / 1e6,
                                           "output_cost_per_token": c.output_usd_per_mtok / 1e6}))
            hidden = getattr(resp, "_hidden_params", None) or {}
            if hidden.get("response_cost") is not None:
                return float(hidden["response_cost"])
            return float(litellm.completion_cost(completion_response=resp))
        except Exception:
            if c.input_usd_per_mtok is None:
                self._unpriced = True  # litellm has no price for this model: stop asking
            return None

    # -- entry point --------------------------------------------------------------------------
    def label(self, queries: list[Query], source: PairSource, store, session_id: int,
              log=print) -> BackendStats:
        stats = BackendStats(requested=len(queries))
        if not queries:
            return stats
        key = self._api_key()
        litellm = import_litellm()
        self._check_pricing(litellm)
        run = _Run(self, litellm, key, queries, source, store, session_id, log, stats)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(run.main())
        else:  # called from inside an event loop (a notebook): use a loop of our own
            t = threading.Thread(target=lambda: asyncio.run(run.main()))
            t.start()
            t.join()
        if run.fatal is not None:
            raise LabelingAborted(run.fatal)
        return stats


class _Run:
    """State of one labeling invocation."""

    def __init__(self, backend: LiteLLMBackend, litellm, key, queries, source, store,
                 session_id, log, stats: BackendStats):
        self.b, self.cfg, self.litellm, self.key = backend, backend.cfg, litellm, key
        self.queries, self.source, self.store = queries, source, store
        self.session_id, self.log, self.stats = session_id, log, stats
        self.stop_reason: str | None = None
        self.fatal: str | None = None
        self.in_flight = 0
        self.costed = 0  # answered queries with a known cost
        self.errors: Counter = Counter()

    # -- budget -------------------------------------------------------------------------------
    def _budget_stop(self) -> str | None:
        c, s = self.cfg, self.stats
        if c.max_queries is not None and s.sent >= c.max_queries:
            return f"budget: max_queries={c.max_queries} reached"
        if c.max_cost_usd is not None:
            est = s.cost_usd / self.costed if self.costed else 0.0
            if s.cost_usd + (self.in_flight + 1) * est > c.max_cost_usd or s.cost_usd >= c.max_cost_usd:
                return (f"budget: max_cost_usd={c.max_cost_usd:g} reached "
                        f"(spent ${s.cost_usd:.4f}, about ${est:.4f} per query)")
        return None

    # -- one API call with retries ------------------------------------------------------------
    async def _call(self, messages: list[dict]) -> _CallResult:
        c, s = self.cfg, self.stats
        kwargs = dict(model=c.model, messages=messages, temperature=c.temperature,
                      max_tokens=c.max_tokens, timeout=c.timeout_s, max_retries=0)
        if c.api_base:
            kwargs["api_base"] = c.api_base
        if self.key is not None:
            kwargs["api_key"] = self.key
        calls = retries = 0
        for attempt in range(c.max_retries + 1):
            if self.fatal is not None:
                raise _CallFailed("run aborted", calls, retries)
            calls += 1
            s.calls += 1
            try:
                resp = await asyncio.wait_for(self.litellm.acompletion(**kwargs), c.timeout_s + 5.0)
            except Exception as err:  # noqa: BLE001 - every failure is classified below
                kind, retryable = classify(err)
                msg = redact(f"{type(err).__name__}: {str(err).strip()[:300]}", self.key)
                self.errors[kind] += 1
                if kind == "fatal":
                    raise _Fatal(msg) from None
                if not retryable or attempt == c.max_retries:
                    raise _CallFailed(msg, calls, retries) from None
                retries += 1
                s.retries += 1
                wait = _retry_after(err)  # 429 and 503 may say how long to wait
                if wait is None:
                    wait = min(c.max_backoff_s, c.backoff_s * 2 ** attempt) * self.b._rng.uniform(0.5, 1.5)
                await asyncio.sleep(min(wait, MAX_RETRY_AFTER_S))
                continue
            choice = resp.choices[0] if getattr(resp, "choices", None) else None
            text = (choice.message.content if choice is not None and choice.message else None) or ""
            usage = getattr(resp, "usage", None)
            return _CallResult(text=text if isinstance(text, str) else str(text),
                               prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
                               completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
                               cost=self.b._cost(self.litellm, resp), calls=calls, retries=retries)
        raise AssertionError("unreachable")

    # -- one query ----------------------------------------------------------------------------
    def _prepare(self, q: Query) -> tuple[Query, str | None, str | None]:
        if q.stage1_text is not None and self.cfg.two_stage:
            return q, None, None  # the analysis is stored: only the label call is due
        a, b = self.source.images(q.idx0, q.idx1)
        size = self.cfg.image_size
        return q, png_data_url(encode_png(a, size)), png_data_url(encode_png(b, size))

    def _base_row(self, q: Query) -> dict:
        return {"query_key": q.query_key, "pair_key": q.pair_key, "idx0": q.idx0, "idx1": q.idx1,
                "image_key": self.source.image_key, "backend": "litellm", "model": self.cfg.model,
                "prompt_version": self.cfg.prompt_version, "task": self.source.task,
                "session_id": self.session_id}

    async def _answer(self, q: Query, url0: str | None, url1: str | None) -> None:
        c, s, task = self.cfg, self.stats, self.source.task
        t0 = time.perf_counter()
        acc = {"calls": q.prior.get("calls") or 0, "retries": q.prior.get("retries") or 0,
               "prompt_tokens": q.prior.get("prompt_tokens") or 0,
               "completion_tokens": q.prior.get("completion_tokens") or 0,
               "cost_usd": q.prior.get("cost_usd")}
        costs: list[float] = []  # costs known in this run

        def add(r: _CallResult) -> None:
            acc["calls"] += r.calls
            acc["retries"] += r.retries
            acc["prompt_tokens"] += r.prompt_tokens
            acc["completion_tokens"] += r.completion_tokens
            if r.cost is not None:
                acc["cost_usd"] = (acc["cost_usd"] or 0.0) + r.cost
                s.cost_usd += r.cost
                costs.append(r.cost)

        stage1 = q.stage1_text
        try:
            if c.two_stage:
                if stage1 is None:
                    r1 = await self._call(vision_messages(task, url0, url1, c.prompt_version))
                    add(r1)
                    stage1 = r1.text
                    self.store.put({**self._base_row(q), **acc, "status": "stage1",
                                    "stage1_text": stage1, "error": None})
                r2 = await self._call(label_messages(task, stage1, c.prompt_version))
                add(r2)
                stage2 = r2.text
                label, clean = parse_label(stage2)
            else:
                r = await self._call(vision_messages(task, url0, url1, c.prompt_version, single=True))
                add(r)
                stage1, stage2 = r.text, None
                label, clean = parse_last_line(r.text)
        except _CallFailed as err:
            acc["calls"] += err.calls
            acc["retries"] += err.retries
            s.failed += 1
            if s.answered == 0 and s.failed >= max(5, 2 * c.concurrency) and self.fatal is None:
                self.fatal = (f"the first {s.failed} queries all failed (last error: {err}); "
                              f"stopping instead of failing every query. Check feedback.model, "
                              f"feedback.api_base and the endpoint")
            self.store.put({**self._base_row(q), **acc, "status": "failed", "stage1_text": stage1,
                            "error": str(err), "latency_s": time.perf_counter() - t0})
            return
        s.answered += 1
        if costs:
            self.costed += 1
        self.store.put({**self._base_row(q), **acc, "status": "answered", "stage1_text": stage1,
                        "stage2_text": stage2, "label": label, "clean": int(clean), "error": None,
                        "latency_s": time.perf_counter() - t0})

    # -- scheduling ---------------------------------------------------------------------------
    async def main(self) -> None:
        c, s = self.cfg, self.stats
        t_start = time.perf_counter()
        ready: asyncio.Queue = asyncio.Queue(maxsize=2 * c.concurrency)
        done = asyncio.Event()

        async def producer() -> None:
            try:
                for q in self.queries:
                    if self.stop_reason or self.fatal:
                        break
                    await ready.put(await asyncio.to_thread(self._prepare, q))
            finally:
                for _ in range(c.concurrency):
                    await ready.put(None)

        async def worker() -> None:
            while True:
                item = await ready.get()
                if item is None:
                    return
                if self.stop_reason or self.fatal:
                    continue
                reason = self._budget_stop()
                if reason:
                    self.stop_reason = reason
                    continue
                self.in_flight += 1
                s.sent += 1
                try:
                    await self._answer(*item)
                except _Fatal as err:
                    self.fatal = (f"the VLM endpoint refused the request ({err}). Check the model "
                                  f"name '{c.model}', feedback.api_base and the key in "
                                  f"{c.api_key_env or 'the provider environment variable'}")
                finally:
                    self.in_flight -= 1

        async def reporter() -> None:
            last_log = time.perf_counter()
            while not done.is_set():
                try:
                    await asyncio.wait_for(done.wait(), SESSION_UPDATE_EVERY_S)
                except asyncio.TimeoutError:
                    pass
                s.seconds = time.perf_counter() - t_start
                self.store.update_session(self.session_id, **self._session_fields())
                if time.perf_counter() - last_log >= PROGRESS_EVERY_S and not done.is_set():
                    last_log = time.perf_counter()
                    self.log(f"labeled {s.answered}/{s.requested} ({s.answered / s.seconds:.2f} "
                             f"queries/s, {s.retries} retries, {s.failed} failed, ${s.cost_usd:.4f}"
                             f"{_eta(s.requested - s.answered - s.failed, s.answered + s.failed, s.seconds)})")

        rep = asyncio.create_task(reporter())
        try:
            await asyncio.gather(producer(), *[worker() for _ in range(c.concurrency)])
        finally:
            done.set()
            await rep
        s.seconds = time.perf_counter() - t_start
        s.errors = dict(self.errors)
        if self.fatal:
            s.stop_reason = "aborted: " + self.fatal
        elif self.stop_reason:
            s.stop_reason = self.stop_reason

    def _session_fields(self) -> dict:
        s = self.stats
        return {"sent": s.sent, "answered": s.answered, "failed": s.failed, "retries": s.retries,
                "calls": s.calls, "cost_usd": s.cost_usd, "seconds": s.seconds}


def _eta(left: int, done: int, seconds: float) -> str:
    """", ETA 3 min 20 s" at the rate so far ('' before the first answer)."""
    if done <= 0 or left <= 0 or seconds <= 0:
        return ""
    eta = left * seconds / done
    return f", ETA {int(eta // 60)} min {int(eta % 60)} s" if eta >= 60 else f", ETA {eta:.0f} s"

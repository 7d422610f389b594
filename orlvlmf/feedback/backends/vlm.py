"""VLM feedback through litellm: one chat call in, one reply (text, tokens, cost) out.

A chat backend (:mod:`orlvlmf.feedback.backends.base`): labeling (:mod:`orlvlmf.feedback.labeling`)
builds the two-stage dialogue of each query (:mod:`orlvlmf.feedback.prompts`), schedules the
calls, retries and budgets them and stores the answers; this module makes one call through
``litellm.acompletion`` and says what happened:

* a reply: its text, prompt / completion tokens and cost (litellm's price table, or the
  configured ``input_usd_per_mtok`` / ``output_usd_per_mtok``; None when the price is unknown);
* a failure, classified (:func:`classify`): rate limits (429), server errors (5xx, 408, 409),
  timeouts and dropped connections may succeed on retry (with the server's Retry-After when it
  gives one); other 4xx errors fail the query; 401 / 403 / 404 are fatal (the run stops).

The API key is read from the environment variable named by ``api_key_env`` when labeling opens
the backend, passed to litellm and never stored, logged or put in messages (:func:`redact`).

With ``batch: true`` the same requests go through litellm's files + batches functions
(``create_file``, ``create_batch``, ``retrieve_batch``, ``list_batches``, ``file_content``) to
OpenAI, Azure or an OpenAI-compatible server (vLLM: ``hosted_vllm/...`` or ``openai/...`` with
``api_base``); replies are priced at litellm's batch prices (``*_batches``) or the configured ones.
"""

from __future__ import annotations

import asyncio
import os
import re
import time

from orlvlmf.feedback.backends.base import (BatchState, CallFailed, LabelingAborted, PairSource,
                                            Reply, Request, check_chat_config)
from orlvlmf.feedback.backends.litellm_setup import import_litellm  # noqa: F401 - also used from here
from orlvlmf.feedback.config import LiteLLMConfig
from orlvlmf.registry import register

BATCH_PROVIDERS = {"openai": "openai", "azure": "azure", "hosted_vllm": "hosted_vllm"}
BATCH_ENDPOINT = "/v1/chat/completions"
_KEYLIKE = re.compile(r"\b(sk|key|pk|rk)-[A-Za-z0-9_\-*.]{6,}")


MASK_MIN = 6  # a run of the key this long or longer is masked wherever it appears


def redact(text: str, secret: str | None) -> str:
    """``text`` with every piece of the secret of ``MASK_MIN`` or more characters, and anything
    shaped like an API key, masked.  Mask first, cut after: a cut key is no longer the key."""
    if secret and secret != "EMPTY":
        if len(secret) < MASK_MIN:
            text = text.replace(secret, "***")
        else:
            grams = {secret[i:i + MASK_MIN] for i in range(len(secret) - MASK_MIN + 1)}
            hit = [False] * len(text)
            for i in range(len(text) - MASK_MIN + 1):
                if text[i:i + MASK_MIN] in grams:
                    hit[i:i + MASK_MIN] = [True] * MASK_MIN
            out, i = [], 0
            while i < len(text):
                if hit[i]:
                    while i < len(text) and hit[i]:
                        i += 1
                    out.append("***")
                else:
                    out.append(text[i])
                    i += 1
            text = "".join(out)
    return _KEYLIKE.sub(lambda m: m.group(1) + "-***", text)


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
        check_chat_config(c)
        if (c.input_usd_per_mtok is None) != (c.output_usd_per_mtok is None):
            raise ValueError("set both feedback.input_usd_per_mtok and feedback.output_usd_per_mtok, "
                             "or neither (then litellm's price table is used)")
        if c.batch:
            batch_provider(c.model)  # a model the batch API cannot reach: refused now
            if c.batch_poll_s <= 0:
                raise ValueError(f"feedback.batch_poll_s must be > 0, got {c.batch_poll_s}")
        self._litellm = None
        self._key: str | None = None
        self._unpriced = False

    @property
    def model(self) -> str:
        return self.cfg.model

    def identity(self) -> dict:
        """What changes an answer: the model (by name), prompts, frame size, temperature — not
        the endpoint's address (``127.0.0.1`` or ``localhost``, a proxy: the same model)."""
        c = self.cfg
        return {"backend": "litellm", "model": c.model, "prompt_version": c.prompt_version,
                "two_stage": c.two_stage, "image_size": c.image_size, "temperature": c.temperature}

    def legacy_identities(self) -> list[dict]:
        """Identities older versions used (they counted ``api_base``): their stored rows are
        moved to this version's keys (:func:`orlvlmf.feedback.labeling.migrate_keys`)."""
        return [{**self.identity(), "api_base": self.cfg.api_base}]

    def prices(self, batch: bool = False):
        """USD per token: the configured prices, else litellm's table (its batch prices for
        ``batch``), else unknown (:func:`orlvlmf.feedback.cost.lookup_prices`)."""
        from orlvlmf.feedback.cost import lookup_prices

        c = self.cfg
        return lookup_prices(c.model, batch, c.input_usd_per_mtok, c.output_usd_per_mtok)

    # -- before any call ----------------------------------------------------------------------
    def open(self, source: PairSource) -> None:
        """Read the key, import litellm, check that a cost cap can be enforced."""
        self._key = self._api_key()
        self._litellm = import_litellm()
        self._check_pricing(self._litellm)

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
        if c.batch and not self.prices(batch=True).known:
            raise LabelingAborted(
                f"feedback.max_cost_usd is set but litellm has no batch price for model '{c.model}', "
                f"so the cap cannot be enforced. Set feedback.input_usd_per_mtok and "
                f"feedback.output_usd_per_mtok (the batch prices, USD per million tokens) or drop the cap")
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

    # -- one call -----------------------------------------------------------------------------
    def _failure(self, err: Exception, what: str) -> CallFailed:
        """The CallFailed for a litellm exception (classified, key masked)."""
        c = self.cfg
        kind, retryable = classify(err)
        msg = redact(f"{type(err).__name__}: {str(err).strip()}", self._key)[:300]  # mask, then cut
        if kind == "fatal":
            msg = (f"the VLM endpoint refused the {what} ({msg}). Check the model name "
                   f"'{c.model}', feedback.api_base and the key in "
                   f"{c.api_key_env or 'the provider environment variable'}")
        return CallFailed(msg, kind, retryable, fatal=kind == "fatal", retry_after=_retry_after(err))

    async def complete(self, request: Request) -> Reply:
        c = self.cfg
        kwargs = dict(model=c.model, messages=request.messages, temperature=c.temperature,
                      max_tokens=c.max_tokens, timeout=c.timeout_s, max_retries=0)
        if c.api_base:
            kwargs["api_base"] = c.api_base
        if self._key is not None:
            kwargs["api_key"] = self._key
        try:
            resp = await self._litellm.acompletion(**kwargs)
        except Exception as err:  # noqa: BLE001 - every failure is classified
            raise self._failure(err, "request") from None
        choice = resp.choices[0] if getattr(resp, "choices", None) else None
        text = (choice.message.content if choice is not None and choice.message else None) or ""
        usage = getattr(resp, "usage", None)
        return Reply(text=text if isinstance(text, str) else str(text),
                     prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
                     completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
                     cost_usd=self._cost(self._litellm, resp))

    # -- the batch API --------------------------------------------------------------------------
    def _batch_kwargs(self) -> dict:
        kw = {"custom_llm_provider": batch_provider(self.cfg.model)[0]}
        if self.cfg.api_base:
            kw["api_base"] = self.cfg.api_base
        if self._key is not None:
            kw["api_key"] = self._key
        return kw

    def _batch_call(self, what: str, fn, **kwargs):
        try:
            return fn(**kwargs, **self._batch_kwargs())
        except Exception as err:  # noqa: BLE001 - every failure is classified
            raise self._failure(err, what) from None

    def batch_line(self, request: Request, custom_id: str) -> dict:
        """One request of a batch input file (OpenAI's JSONL format)."""
        c = self.cfg
        return {"custom_id": custom_id, "method": "POST", "url": BATCH_ENDPOINT,
                "body": {"model": batch_provider(c.model)[1], "messages": request.messages,
                         "temperature": c.temperature, "max_tokens": c.max_tokens}}

    def submit_batch(self, lines: list[dict], tag: str) -> str:
        """Upload ``lines`` as a batch input file and create the batch (metadata carries ``tag``)."""
        import json

        data = "".join(json.dumps(line) + "\n" for line in lines).encode()
        f = self._batch_call("file upload", self._litellm.create_file, file=(f"{tag}.jsonl", data),
                             purpose="batch")
        b = self._batch_call("batch creation", self._litellm.create_batch, completion_window=self.cfg.batch_window,
                             endpoint=BATCH_ENDPOINT, input_file_id=f.id, metadata={"orlvlmf_tag": tag})
        return str(b.id)

    def find_batch(self, tag: str) -> str | None:
        """The id of a batch created with ``tag`` (listing the provider's recent batches)."""
        page = self._batch_call("batch listing", self._litellm.list_batches, limit=100)
        for b in getattr(page, "data", None) or []:
            meta = (b.get("metadata") if isinstance(b, dict) else getattr(b, "metadata", None)) or {}
            if meta.get("orlvlmf_tag") == tag:
                return str(b["id"] if isinstance(b, dict) else b.id)
        return None

    def poll_batch(self, batch_id: str) -> BatchState:
        b = self._batch_call("batch status request", self._litellm.retrieve_batch, batch_id=batch_id)
        counts = getattr(b, "request_counts", None)
        errors = getattr(getattr(b, "errors", None), "data", None) or []
        error = "; ".join(f"{getattr(e, 'code', '')}: {getattr(e, 'message', '')}" for e in errors) or None
        return BatchState(batch_id, str(b.status), int(getattr(counts, "total", 0) or 0),
                          int(getattr(counts, "completed", 0) or 0), int(getattr(counts, "failed", 0) or 0),
                          getattr(b, "output_file_id", None), getattr(b, "error_file_id", None), error)

    def batch_replies(self, state: BatchState) -> dict[str, Reply | str]:
        """Replies of a finished batch by custom id (a string: that request's error)."""
        import json

        prices = self.prices(batch=True)
        out: dict[str, Reply | str] = {}
        for file_id in (state.output_file_id, state.error_file_id):
            if not file_id:
                continue
            content = self._batch_call("batch result download", self._litellm.file_content, file_id=file_id)
            for line in content.content.decode().splitlines():
                if not line.strip():
                    continue
                row = json.loads(line)
                resp = row.get("response") or {}
                body = resp.get("body") or {}
                if resp.get("status_code") != 200 or row.get("error"):
                    err = row.get("error") or body.get("error") or {}
                    out[row["custom_id"]] = redact(f"batch request failed (status {resp.get('status_code')}): "
                                                   f"{err.get('message', err) if isinstance(err, dict) else err}",
                                                   self._key)
                    continue
                choice = (body.get("choices") or [{}])[0]
                usage = body.get("usage") or {}
                pt, ct = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
                cost = pt * prices.input + ct * prices.output if prices.known else None
                out[row["custom_id"]] = Reply(str((choice.get("message") or {}).get("content") or ""), pt, ct, cost)
        return out


def batch_provider(model: str) -> tuple[str, str]:
    """(litellm's provider for the batch API, the model name inside a request) of ``model``."""
    prefix, _, rest = model.partition("/")
    if not rest:
        return "openai", model  # a bare name (gpt-4o): OpenAI's
    if prefix in BATCH_PROVIDERS:
        return BATCH_PROVIDERS[prefix], rest
    raise ValueError(f"feedback.batch: litellm's batch API reaches OpenAI, Azure and OpenAI-compatible "
                     f"servers such as vLLM (model gpt-4o, openai/<name> with api_base, azure/<deployment>, "
                     f"hosted_vllm/<name>); '{model}' is none of them. Set feedback.batch=false")

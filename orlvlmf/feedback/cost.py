"""What a labeling run will cost, before anything is sent (``orlvlmf label --dry-run``).

Counts
    queries = pairs x (2 with ``both_orders``) - queries already answered in the store;
    calls   = queries x (2 for two-stage, 1 for single-call) - stage-1 calls already stored.

Tokens per call
    input  = text tokens of the prompt (counted with litellm's tokenizer for the model; a
             4-characters-per-token guess if that fails) + tokens of the two images;
    stage 2's input also holds stage 1's analysis.  Output tokens are unknown before asking: the
    estimate uses the mean of answers already stored when there are some, else
    ``ANALYSIS_TOKENS`` for an analysis and ``LABEL_TOKENS`` for a label line; the upper bound
    uses ``max_tokens`` for every reply.

Image tokens (the image as sent: its longer side resized to ``image_size``):
    * OpenAI tile models (detail high / auto): fit in 2048 x 2048, shorter side down to 768,
      tiles = ceil(w / 512) * ceil(h / 512), tokens = base + tile * tiles, with (base, tile) =
      (85, 170) for gpt-4o / gpt-4.1 / gpt-4-turbo, (2833, 5667) for gpt-4o-mini, (70, 140) for
      gpt-5, (75, 150) for o1 / o3 (a 224 x 224 frame: 255 tokens on gpt-4o, 8500 on gpt-4o-mini,
      whose per-token price is lower); detail low: base only;
    * OpenAI patch models (gpt-4.1-mini, gpt-4.1-nano, o4-mini): ceil(w / 32) * ceil(h / 32)
      patches, at most 1536, times 1.62 / 2.46 / 1.72 (224 x 224: 49 patches -> 80 / 121 / 85);
    * Anthropic Claude: ceil(w * h / 750) after fitting the long edge in 1568 px (224 x 224: 67);
    * Google Gemini: 258 when both sides are <= 384 px, else 258 per 768 x 768 tile;
    * any other model (a local vLLM / Ollama model, ...): the gpt-4o tile rule, said to be assumed.

Prices (USD per token)
    ``input_usd_per_mtok`` / ``output_usd_per_mtok`` when configured, else litellm's price table
    (``litellm.get_model_info``; with ``batch`` its ``*_batches`` prices).  A model the table lacks
    (e.g. gemini/gemini-2.0-flash in litellm 1.110) has an unknown price: the estimate says so
    instead of guessing.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Callable, Optional

from orlvlmf.feedback.prompts import get_prompts, label_messages

ANALYSIS_TOKENS = 250  # assumed length of a stage-1 analysis (3 short answers) with no answer stored
LABEL_TOKENS = 3  # a label line: "1", "-1"

_OPENAI_TILES = (  # (model-name prefix, base tokens, tokens per 512-px tile), most specific first
    ("gpt-4o-mini", 2833, 5667), ("gpt-4o", 85, 170), ("chatgpt-4o", 85, 170),
    ("gpt-4.1", 85, 170), ("gpt-4-turbo", 85, 170), ("gpt-5", 70, 140), ("o1", 75, 150),
    ("o3", 75, 150),
)
_OPENAI_PATCHES = (("gpt-4.1-mini", 1.62), ("gpt-4.1-nano", 2.46), ("o4-mini", 1.72))


def sent_image_size(height: int, width: int, image_size: Optional[int]) -> tuple[int, int]:
    """(width, height) of a frame after the backend resizes its longer side to ``image_size``."""
    if not image_size or max(width, height) == image_size:
        return width, height
    scale = image_size / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _bare_model(model: str) -> str:
    """``openai/gpt-4o`` -> ``gpt-4o``; ``azure/my-deploy`` -> ``my-deploy``."""
    return model.rsplit("/", 1)[-1].lower()


def _openai_tiles(w: int, h: int, base: int, tile: int, detail: str) -> int:
    if detail == "low":
        return base
    scale = min(1.0, 2048 / max(w, h))
    w, h = w * scale, h * scale
    scale = min(1.0, 768 / min(w, h))
    w, h = int(w * scale), int(h * scale)
    return base + tile * math.ceil(w / 512) * math.ceil(h / 512)


def image_tokens(model: str, width: int, height: int, detail: str = "auto") -> tuple[int, str]:
    """(tokens of one image as ``model`` bills it, the rule used); see the module docstring."""
    name = _bare_model(model)
    full = model.lower()
    if "claude" in full:
        scale = min(1.0, 1568 / max(width, height))
        w, h = round(width * scale), round(height * scale)
        return math.ceil(w * h / 750), "anthropic: ceil(w*h/750), long edge <= 1568 px"
    if "gemini" in full:
        if width <= 384 and height <= 384:
            return 258, "gemini: 258 per image up to 384 px"
        return 258 * math.ceil(width / 768) * math.ceil(height / 768), "gemini: 258 per 768-px tile"
    for prefix, mult in _OPENAI_PATCHES:
        if name.startswith(prefix):
            patches = min(1536, math.ceil(width / 32) * math.ceil(height / 32))
            return math.ceil(patches * mult), f"openai {prefix}: 32-px patches x {mult}"
    for prefix, base, tile in _OPENAI_TILES:
        if re.match(re.escape(prefix) + r"($|[-.])", name):
            return (_openai_tiles(width, height, base, tile, detail),
                    f"openai {prefix}: {base} + {tile} per 512-px tile (detail {detail})")
    return (_openai_tiles(width, height, 85, 170, detail),
            "no image rule known for this model: assumed gpt-4o's 85 + 170 per 512-px tile")


@dataclass
class Prices:
    input: Optional[float]  # USD per input token (None: unknown)
    output: Optional[float]
    source: str  # "config" | "litellm" | "litellm batch" | why unknown

    @property
    def known(self) -> bool:
        return self.input is not None and self.output is not None


def lookup_prices(model: str, batch: bool = False, input_usd_per_mtok: Optional[float] = None,
                  output_usd_per_mtok: Optional[float] = None, model_info: Callable | None = None) -> Prices:
    """Configured prices, else litellm's table (batch prices for ``batch``), else unknown."""
    if input_usd_per_mtok is not None or output_usd_per_mtok is not None:
        if input_usd_per_mtok is None or output_usd_per_mtok is None:
            return Prices(None, None, "unknown: set both feedback.input_usd_per_mtok and "
                                      "feedback.output_usd_per_mtok")
        return Prices(input_usd_per_mtok / 1e6, output_usd_per_mtok / 1e6, "config")
    if model_info is None:
        from orlvlmf.feedback.backends.litellm_setup import import_litellm

        model_info = import_litellm().get_model_info
    try:
        info = model_info(model)
    except Exception:
        return Prices(None, None, f"unknown: litellm has no price for '{model}' (set "
                                  f"feedback.input_usd_per_mtok / output_usd_per_mtok)")
    suffix = "_batches" if batch else ""
    pin, pout = info.get(f"input_cost_per_token{suffix}"), info.get(f"output_cost_per_token{suffix}")
    if pin is None or pout is None:
        what = "batch price" if batch else "price"
        return Prices(None, None, f"unknown: litellm's table has no {what} for '{model}'")
    return Prices(float(pin), float(pout), "litellm batch" if batch else "litellm")


@dataclass
class CallEstimate:
    stage: str  # "stage 1 (vision)" | "stage 2 (label)" | "single call"
    calls: int
    text_tokens: int  # prompt text (stage 2: without the analysis)
    image_tokens: int  # both images
    input_tokens: int  # expected input per call (stage 2: with an expected analysis)
    input_tokens_max: int  # stage 2: with an analysis of max_tokens
    output_tokens: int  # expected
    output_tokens_max: int


@dataclass
class CostEstimate:
    model: str
    pairs: int
    queries: int  # still to ask
    answered: int  # already in the store
    calls: int
    steps: list[CallEstimate]
    prices: Prices
    image_rule: str
    image_size: tuple[int, int]
    output_source: str  # where expected output lengths come from
    notes: list[str] = field(default_factory=list)

    def tokens(self, upper: bool = False) -> tuple[int, int]:
        """(input, output) tokens of all calls still to make."""
        i = sum(s.calls * (s.input_tokens_max if upper else s.input_tokens) for s in self.steps)
        o = sum(s.calls * (s.output_tokens_max if upper else s.output_tokens) for s in self.steps)
        return i, o

    def usd(self, upper: bool = False) -> Optional[float]:
        if not self.prices.known:
            return None
        i, o = self.tokens(upper)
        return i * self.prices.input + o * self.prices.output

    def as_dict(self) -> dict:
        (i, o), (imax, omax) = self.tokens(), self.tokens(upper=True)
        return {"model": self.model, "pairs": self.pairs, "queries": self.queries,
                "answered": self.answered, "calls": self.calls, "input_tokens": i,
                "output_tokens": o, "input_tokens_max": imax, "output_tokens_max": omax,
                "usd": self.usd(), "usd_max": self.usd(upper=True), "price_source": self.prices.source,
                "image_rule": self.image_rule, "steps": [s.__dict__ for s in self.steps]}

    def format(self) -> str:
        w, h = self.image_size
        lines = [f"dry run for {self.model}: {self.pairs} pairs, {self.queries + self.answered} "
                 f"queries ({self.answered} answered in the store), {self.queries} to ask in "
                 f"{self.calls} calls; nothing is sent",
                 f"images sent at {w}x{h} px: {self.image_rule}"]
        for s in self.steps:
            lines.append(f"  {s.stage}: {s.calls} calls x ~{s.input_tokens} input tokens "
                         f"({s.text_tokens} text + {s.image_tokens} image"
                         f"{'' if s.input_tokens == s.text_tokens + s.image_tokens else ' + analysis'}) "
                         f"+ ~{s.output_tokens} output (at most {s.output_tokens_max})")
        (i, o), (imax, omax) = self.tokens(), self.tokens(upper=True)
        lines.append(f"tokens: ~{i:,} input + ~{o:,} output (output lengths: {self.output_source}); "
                     f"at most {imax:,} + {omax:,}")
        if self.prices.known:
            lines.append(f"price ({self.prices.source}): ${self.prices.input * 1e6:g} / "
                         f"${self.prices.output * 1e6:g} per million input / output tokens -> "
                         f"about ${self.usd():.4f}, at most ${self.usd(upper=True):.4f}")
        else:
            lines.append(f"price: {self.prices.source}; cost unknown")
        return "\n".join(lines + self.notes)


def estimate_cost(model: str, *, pairs: int, task: str, frame_hw: tuple[int, int],
                  image_size: Optional[int], prompt_version: str = "v1", two_stage: bool = True,
                  both_orders: bool = False, answered: int = 0, stage1_stored: int = 0,
                  max_tokens: int = 600, detail: str = "auto", prices: Optional[Prices] = None,
                  observed_output: Optional[dict] = None,
                  count_tokens: Optional[Callable[[str], int]] = None) -> CostEstimate:
    """Estimate the queries, calls, tokens and price of labeling ``pairs`` pairs.

    ``answered`` queries are already in the store (free); ``stage1_stored`` queries have their
    analysis stored (only the label call is due).  ``observed_output``: mean completion tokens
    of stored answers, ``{"analysis": a, "label": b}`` (or ``{"single": s}``).  ``count_tokens``:
    text -> tokens (default: litellm's tokenizer for ``model``).
    """
    if pairs < 0 or answered < 0 or stage1_stored < 0:
        raise ValueError("pairs, answered and stage1_stored must be >= 0")
    total = pairs * (2 if both_orders else 1)
    answered = min(answered, total)
    queries = total - answered
    stage1_stored = min(stage1_stored, queries) if two_stage else 0
    count = count_tokens or _litellm_counter(model)
    w, h = sent_image_size(frame_hw[0], frame_hw[1], image_size)
    per_image, rule = image_tokens(model, w, h, detail)
    p = get_prompts(prompt_version)
    goal = task.strip().rstrip(".")
    observed = observed_output or {}
    source = "mean of stored answers" if observed else (
        f"assumed {ANALYSIS_TOKENS} per analysis, {LABEL_TOKENS} per label")
    vision_text = count(" ".join([p.intro.format(goal=goal), p.between,
                                  (p.stage1 if two_stage else p.single).format(goal=goal)]))
    steps: list[CallEstimate] = []
    if two_stage:
        analysis = int(round(observed.get("analysis", ANALYSIS_TOKENS)))
        label = int(round(observed.get("label", LABEL_TOKENS)))
        label_text = count(label_messages(task, "", prompt_version)[0]["content"])
        steps.append(CallEstimate("stage 1 (vision)", queries - stage1_stored, vision_text,
                                  2 * per_image, vision_text + 2 * per_image,
                                  vision_text + 2 * per_image, analysis, max_tokens))
        steps.append(CallEstimate("stage 2 (label)", queries, label_text, 0, label_text + analysis,
                                  label_text + max_tokens, label, max_tokens))
    else:
        single = int(round(observed.get("single", ANALYSIS_TOKENS + LABEL_TOKENS)))
        steps.append(CallEstimate("single call", queries, vision_text, 2 * per_image,
                                  vision_text + 2 * per_image, vision_text + 2 * per_image, single,
                                  max_tokens))
    prices = prices if prices is not None else lookup_prices(model)
    return CostEstimate(model=model, pairs=pairs, queries=queries, answered=answered,
                        calls=sum(s.calls for s in steps), steps=steps, prices=prices,
                        image_rule=rule, image_size=(w, h), output_source=source)


def _litellm_counter(model: str) -> Callable[[str], int]:
    """Text -> tokens with litellm's tokenizer for ``model`` (chars / 4 if it has none)."""
    from orlvlmf.feedback.backends.litellm_setup import import_litellm

    litellm = import_litellm()

    def count(text: str) -> int:
        try:
            return int(litellm.token_counter(model=model, messages=[{"role": "user", "content": text}]))
        except Exception:
            return math.ceil(len(text) / 4) + 4
    return count

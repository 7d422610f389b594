import pytest

from orlvlmf.feedback.cost import (ANALYSIS_TOKENS, LABEL_TOKENS, Prices, estimate_cost, image_tokens,
                                   lookup_prices, sent_image_size)

TASK = "open the drawer"


@pytest.mark.parametrize("model,size,tokens", [
    ("gpt-4o", (224, 224), 85 + 170),  # one 512-px tile
    ("openai/gpt-4o-2024-08-06", (1024, 1024), 765),  # OpenAI's example: 768 x 768, 4 tiles
    ("gpt-4o", (2048, 4096), 1105),  # OpenAI's example: 1024 x 2048 -> 768 x 1536, 6 tiles
    ("gpt-4o-mini", (224, 224), 2833 + 5667),
    ("gpt-4.1-mini", (224, 224), 80),  # 7 x 7 patches x 1.62
    ("claude-sonnet-4-5", (224, 224), 67),
    ("anthropic/claude-3-5-sonnet-20241022", (1000, 1000), 1334),  # Anthropic's table
    ("gemini/gemini-2.0-flash", (224, 224), 258),
    ("gemini/gemini-2.5-flash", (1000, 800), 4 * 258),
])
def test_image_token_rules(model, size, tokens):
    assert image_tokens(model, *size)[0] == tokens


def test_unknown_models_use_an_assumed_rule_and_say_so():
    n, rule = image_tokens("hosted_vllm/Qwen/Qwen2.5-VL-7B-Instruct", 224, 224)
    assert n == 255 and "assumed" in rule
    assert image_tokens("gpt-4o", 224, 224, detail="low")[0] == 85


def test_sent_image_size_resizes_the_longer_side():
    assert sent_image_size(480, 640, 224) == (224, 168)
    assert sent_image_size(128, 128, None) == (128, 128)


def test_prices_from_litellm_config_or_unknown():
    p = lookup_prices("gpt-4o")
    assert p.known and p.source == "litellm" and p.input == pytest.approx(2.5e-6)
    b = lookup_prices("gpt-4o", batch=True)
    assert b.source == "litellm batch" and b.input == pytest.approx(p.input / 2)
    missing = lookup_prices("gemini/gemini-2.0-flash")
    assert not missing.known and "no price for 'gemini/gemini-2.0-flash'" in missing.source
    c = lookup_prices("gemini/gemini-2.0-flash", input_usd_per_mtok=0.1, output_usd_per_mtok=0.4)
    assert c.known and c.source == "config" and c.output == pytest.approx(0.4e-6)
    half = lookup_prices("gpt-4o", input_usd_per_mtok=1.0)
    assert not half.known and "set both" in half.source
    no_batch = lookup_prices("x", batch=True, model_info=lambda m: {"input_cost_per_token": 1e-6,
                                                                   "output_cost_per_token": 2e-6})
    assert not no_batch.known and "no batch price" in no_batch.source


def test_counts_tokens_and_price_of_a_two_stage_both_order_run():
    words = lambda text: len(text.split())  # noqa: E731 - a deterministic stand-in tokenizer
    prices = Prices(2e-6, 8e-6, "config")
    est = estimate_cost("gpt-4o", pairs=100, task=TASK, frame_hw=(128, 128), image_size=224,
                        both_orders=True, answered=30, stage1_stored=10, prices=prices,
                        count_tokens=words)
    assert (est.queries, est.answered) == (170, 30)
    s1, s2 = est.steps
    assert (s1.calls, s2.calls, est.calls) == (160, 170, 330)
    assert est.image_size == (224, 224) and s1.image_tokens == 2 * 255
    assert s1.output_tokens == ANALYSIS_TOKENS and s2.output_tokens == LABEL_TOKENS
    assert s2.input_tokens == s2.text_tokens + ANALYSIS_TOKENS and s2.input_tokens_max == s2.text_tokens + 600
    i, o = est.tokens()
    assert i == 160 * (s1.text_tokens + 510) + 170 * (s2.text_tokens + ANALYSIS_TOKENS)
    assert o == 160 * ANALYSIS_TOKENS + 170 * LABEL_TOKENS
    assert est.usd() == pytest.approx(i * 2e-6 + o * 8e-6)
    assert est.usd(upper=True) > est.usd()
    text = est.format()
    assert "170 to ask in 330 calls" in text and "nothing is sent" in text and "$" in text


def test_single_call_observed_lengths_and_unknown_price():
    est = estimate_cost("gemini/gemini-2.0-flash", pairs=10, task=TASK, frame_hw=(64, 64),
                        image_size=None, two_stage=False, observed_output={"single": 40},
                        count_tokens=lambda t: 100)
    (step,) = est.steps
    assert (est.calls, step.image_tokens, step.output_tokens) == (10, 2 * 258, 40)
    assert est.usd() is None and est.as_dict()["usd"] is None
    assert "cost unknown" in est.format() and "mean of stored answers" in est.format()


def test_litellm_tokenizer_counts_the_real_prompts():
    est = estimate_cost("gpt-4o", pairs=1, task=TASK, frame_hw=(224, 224), image_size=224)
    s1, s2 = est.steps
    assert 60 < s1.text_tokens < 400 and 40 < s2.text_tokens < 300
    assert est.prices.source == "litellm" and est.usd() > 0

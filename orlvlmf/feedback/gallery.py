"""A self-contained HTML page of labeled queries, so a person can check the VLM's reasoning.

Each card shows the two frames side by side (base64 PNGs inside the page), the label, the
agreement with the noiseless GT label when the dataset has ground truth, the stage-1 analysis and
the raw stage-2 reply.  A small inline script counts the images that decoded
(``body[data-images-decoded]``) and flags broken ones.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from orlvlmf.feedback.images import encode_png, pair_key, png_data_url

LABEL_TEXT = {0: "Image 1 better (0)", 1: "Image 2 better (1)", -1: "unsure / no difference (-1)"}

_CSS = """
body{font-family:system-ui,sans-serif;margin:24px;background:#fafafa;color:#222}
.card{background:#fff;border:1px solid #ddd;border-radius:8px;padding:12px;margin:0 0 16px 0}
.imgs{display:flex;gap:12px}.imgs figure{margin:0}.imgs img{width:224px;height:auto;
image-rendering:pixelated;border:1px solid #ccc}figcaption{font-size:12px;color:#555}
.ok{color:#17803d;font-weight:600}.bad{color:#b42318;font-weight:600}.na{color:#777}
pre{white-space:pre-wrap;background:#f3f3f3;padding:8px;border-radius:4px;font-size:12px;max-height:260px;overflow:auto}
"""

#: counts the images that decoded (``body[data-images-decoded]`` / ``data-images-total``) and
#: outlines broken ones; the browser tests read the counts (the run report uses it too)
IMAGE_CHECK_SCRIPT = """
<script>
(function(){
  function check(){
    var imgs=document.images, ok=0, done=0;
    for (var i=0;i<imgs.length;i++){ if (imgs[i].complete){ done++;
      if (imgs[i].naturalWidth>0) ok++; else imgs[i].style.outline='3px solid red'; } }
    document.body.setAttribute('data-images-decoded', String(ok));
    document.body.setAttribute('data-images-total', String(imgs.length));
    if (done<imgs.length) setTimeout(check, 50);
  }
  if (document.readyState==='complete') check(); else window.addEventListener('load', check);
})();
</script>
"""


def rows_of_dataset(rows: list[dict], dataset) -> list[dict]:
    """Rows whose indices point at this dataset's frames (their pair key is recomputed)."""
    n = dataset.num_transitions
    out = []
    by_key: dict[str, list[dict]] = {}
    for r in rows:
        if r["idx0"] is not None and r["idx1"] is not None and 0 <= r["idx0"] < n and 0 <= r["idx1"] < n:
            by_key.setdefault(r["image_key"] or "image", []).append(r)
    for key, rs in by_key.items():
        if key not in dataset.observation_keys:
            continue
        for s in range(0, len(rs), 64):
            part = rs[s:s + 64]
            idx = np.asarray([[r["idx0"], r["idx1"]] for r in part], np.int64)
            frames = dataset.next_observations(key, idx)
            out += [r for r, f in zip(part, frames) if pair_key(f[0], f[1]) == r["pair_key"]]
    return out


def write_gallery(store_path: str | Path, dataset_path: str | Path, out_html: str | Path,
                  n: int = 50, seed: int = 0, tie_threshold: float = 0.0) -> Path:
    """Write ``n`` answered queries (drawn with ``seed``) of this dataset to ``out_html``."""
    from orlvlmf.data.dataset import OfflineDataset
    from orlvlmf.feedback.backends.scripted import gt_labels
    from orlvlmf.feedback.store import LabelStore

    out_html = Path(out_html)
    with LabelStore(store_path, readonly=True) as store:
        rows = store.rows("status='answered'")
    with OfflineDataset.open(dataset_path) as ds:
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(rows))
        chosen: list[dict] = []
        for s in range(0, len(order), max(n, 1)):  # draw, then keep rows of this dataset
            chosen += rows_of_dataset([rows[i] for i in order[s:s + max(n, 1)]], ds)
            if len(chosen) >= n:
                break
        chosen = chosen[:n]
        reward = ds.ground_truth().reward if ds.has_ground_truth else None
        cards = []
        for k, r in enumerate(chosen):
            f = ds.next_observations(r["image_key"] or "image", np.asarray([r["idx0"], r["idx1"]]))
            urls = [png_data_url(encode_png(x)) for x in f]
            cards.append(_card(k, r, urls, reward, tie_threshold, gt_labels))
        title = f"orlvlmf label gallery: {len(chosen)} of {len(rows)} answered queries"
        head = (f"<p>Dataset <code>{html.escape(str(dataset_path))}</code>, store "
                f"<code>{html.escape(str(store_path))}</code>. Frames shown are the next observations "
                f"o'<sub>i</sub> of the queried transitions.</p>")
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>{head}"
            + "".join(cards) + IMAGE_CHECK_SCRIPT + "</body></html>")
    out_html.parent.mkdir(parents=True, exist_ok=True)
    out_html.write_text(page, encoding="utf-8")
    return out_html


def _card(k: int, r: dict, urls: list[str], reward, tie: float, gt_labels) -> str:
    label = r["label"]
    label_txt = LABEL_TEXT.get(label, str(label))
    if reward is not None:
        r0, r1 = float(reward[r["idx0"]]), float(reward[r["idx1"]])
        ref = int(gt_labels(np.asarray([r0]), np.asarray([r1]), tie)[0])
        if label == -1 or ref == -1:
            agree = f"<span class='na'>not compared (label {label}, GT {ref})</span>"
        elif label == ref:
            agree = "<span class='ok'>agrees with GT</span>"
        else:
            agree = "<span class='bad'>disagrees with GT</span>"
        gt = f"GT reward {r0:.4g} vs {r1:.4g} &rarr; {html.escape(LABEL_TEXT[ref])}; {agree}"
    else:
        gt = "<span class='na'>no ground truth in this dataset</span>"
    esc = html.escape
    return (
        f"<div class='card' id='q{k}'><div class='imgs'>"
        f"<figure><img alt='Image 1' src='{urls[0]}'><figcaption>Image 1: transition {r['idx0']}"
        f"</figcaption></figure>"
        f"<figure><img alt='Image 2' src='{urls[1]}'><figcaption>Image 2: transition {r['idx1']}"
        f"</figcaption></figure></div>"
        f"<p><b>Label:</b> {esc(label_txt)} &middot; {esc(str(r['backend']))} / {esc(str(r['model']))}"
        f"{' / prompt ' + esc(str(r['prompt_version'])) if r['prompt_version'] else ''}"
        f"{'' if r['clean'] else ' &middot; <span class=bad>reply was not a clean label</span>'}</p>"
        f"<p>{gt}</p><p><b>Goal:</b> {esc(str(r['task'] or ''))}</p>"
        f"<details open><summary>Stage-1 analysis</summary><pre>{esc(r['stage1_text'] or '')}</pre></details>"
        f"<details><summary>Stage-2 reply</summary><pre>{esc(str(r['stage2_text'] or ''))}</pre></details>"
        f"</div>")

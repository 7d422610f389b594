"""What a label store holds, in figures (`orlvlmf label` prints :func:`format_summary`)."""

from __future__ import annotations

from pathlib import Path


def summarize_store(path: str | Path) -> dict:
    """Counts over all queries, per backend/model, and the latest labeling session.

    Keys: ``queries, answered, pending_stage2, failed, minus1, minus1_rate, unclean, retries,
    calls, cost_usd, prompt_tokens, completion_tokens, by_model, sessions, last_session``;
    ``last_session`` has ``requested, cached, sent, answered, failed, retries, seconds,
    queries_per_s, stop_reason``; ``orders``: :func:`store_order_stats`.
    """
    from orlvlmf.feedback.store import LabelStore

    with LabelStore(path, readonly=True) as store:
        q = store.conn.execute(
            "SELECT COUNT(*), "
            "SUM(status='answered'), SUM(status='stage1'), SUM(status='failed'), "
            "SUM(status='answered' AND label=-1), SUM(status='answered' AND clean=0), "
            "COALESCE(SUM(retries),0), COALESCE(SUM(calls),0), COALESCE(SUM(cost_usd),0), "
            "COALESCE(SUM(prompt_tokens),0), COALESCE(SUM(completion_tokens),0) FROM queries").fetchone()
        by_model = {}
        for r in store.conn.execute(
                "SELECT backend, model, COUNT(*), SUM(status='answered'), "
                "SUM(status='answered' AND label=-1), SUM(status='failed'), COALESCE(SUM(cost_usd),0) "
                "FROM queries GROUP BY backend, model ORDER BY backend, model"):
            ans = r[3] or 0
            by_model[f"{r[0]}/{r[1]}"] = {"queries": r[2], "answered": ans, "failed": r[5] or 0,
                                          "minus1_rate": (r[4] or 0) / ans if ans else None,
                                          "cost_usd": float(r[6])}
        sessions = store.sessions()
    answered = q[1] or 0
    out = {"path": str(path), "queries": q[0], "answered": answered, "pending_stage2": q[2] or 0,
           "failed": q[3] or 0, "minus1": q[4] or 0,
           "minus1_rate": (q[4] or 0) / answered if answered else None, "unclean": q[5] or 0,
           "retries": int(q[6]), "calls": int(q[7]), "cost_usd": float(q[8]),
           "prompt_tokens": int(q[9]), "completion_tokens": int(q[10]), "by_model": by_model,
           "sessions": len(sessions), "last_session": None, "orders": store_order_stats(path)}
    if sessions:
        s = sessions[-1]
        end = s["finished"] or s["updated"] or s["started"]
        # active labeling time when recorded (excludes start-up such as importing litellm)
        seconds = s["seconds"] if s["seconds"] else max(0.0, (end or 0) - (s["started"] or 0))
        out["last_session"] = {
            "requested": s["requested"], "cached": s["cached"], "sent": s["sent"],
            "answered": s["answered"], "failed": s["failed"], "retries": s["retries"],
            "calls": s["calls"], "cost_usd": s["cost_usd"], "seconds": round(seconds, 3),
            "queries_per_s": (s["answered"] / seconds) if seconds > 0 and s["answered"] else 0.0,
            "stop_reason": s["stop_reason"] or ("interrupted" if s["finished"] is None else "done"),
        }
    return out


def store_order_stats(path: str | Path) -> dict | None:
    """:func:`orlvlmf.feedback.orders.order_stats` over the pairs of a store answered in both
    orders by one backend/model (None when no pair was asked both ways round)."""
    import numpy as np

    from orlvlmf.feedback.orders import order_stats
    from orlvlmf.feedback.store import LabelStore

    with LabelStore(path, readonly=True) as store:
        rows = store.conn.execute("SELECT idx0, idx1, label, backend, model FROM queries "
                                  "WHERE status='answered' AND idx0 IS NOT NULL").fetchall()
    seen = {(a, b, be, m): lab for a, b, lab, be, m in rows}
    both = [(lab, seen[(b, a, be, m)]) for (a, b, be, m), lab in seen.items()
            if a < b and (b, a, be, m) in seen]
    if not both:
        return None
    ab, ba = np.asarray(both, np.int64).T
    return order_stats(ab, ba)


def format_order_stats(o: dict | None) -> str:
    """One line for :func:`store_order_stats`."""
    if o is None:
        return ("Order consistency: not measured: no pair was asked both ways round (the labeler "
                "saw each pair in one order; feedback.both_orders asks both).")

    def pct(v):
        return "n/a" if v is None else f"{100 * v:.1f}%"

    return (f"Order consistency: {o['agree']} of {o['pairs']} pairs asked both ways round got the same "
            f"answer ({pct(o['consistency_rate'])} of those answered decisively both times; "
            f"{o['contradict']} contradictions, {o['one_abstain'] + o['both_abstain']} with a -1); "
            f"answers naming the first image: {pct(o['first_image_rate'])} (50% without position "
            f"bias); -1 answers: {pct(o['minus1_rate'])}.")


def format_summary(d: dict) -> str:
    """A few human-readable lines for :func:`summarize_store`'s dict."""
    rate = "n/a" if d["minus1_rate"] is None else f"{100 * d['minus1_rate']:.1f}%"
    lines = [
        f"label store {d['path']}",
        f"  answered {d['answered']} of {d['queries']} queries (-1 rate {rate}, "
        f"{d['unclean']} unparseable replies kept as -1), failed {d['failed']}, "
        f"awaiting label call {d['pending_stage2']}",
        f"  API calls {d['calls']}, retries {d['retries']}, cost ${d['cost_usd']:.4f} "
        f"({d['prompt_tokens']} prompt + {d['completion_tokens']} completion tokens)",
    ]
    for name, m in d["by_model"].items():
        r = "n/a" if m["minus1_rate"] is None else f"{100 * m['minus1_rate']:.1f}%"
        lines.append(f"  {name}: {m['answered']} answered, -1 rate {r}, failed {m['failed']}, "
                     f"${m['cost_usd']:.4f}")
    if d.get("orders") is not None:
        lines.append("  " + format_order_stats(d["orders"]))
    s = d["last_session"]
    if s:
        lines.append(
            f"  last run: {s['answered']} answered of {s['requested']} requested ({s['cached']} from "
            f"the store), {s['failed']} failed, {s['retries']} retries, {s['seconds']:.1f} s, "
            f"{s['queries_per_s']:.2f} queries/s, stop: {s['stop_reason']}")
    return "\n".join(lines)

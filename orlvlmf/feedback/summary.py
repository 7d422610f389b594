"""What a label store holds, in figures (`orlvlmf label` prints :func:`format_summary`)."""

from __future__ import annotations

from pathlib import Path


def summarize_store(path: str | Path) -> dict:
    """Counts over all queries, per backend/model, and the latest labeling session.

    Keys: ``queries, answered, pending_stage2, failed, minus1, minus1_rate, unclean, retries,
    calls, cost_usd, prompt_tokens, completion_tokens, by_model, sessions, last_session``;
    ``last_session`` has ``requested, cached, sent, answered, failed, retries, seconds,
    queries_per_s, stop_reason``.
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
           "sessions": len(sessions), "last_session": None}
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
    s = d["last_session"]
    if s:
        lines.append(
            f"  last run: {s['answered']} answered of {s['requested']} requested ({s['cached']} from "
            f"the store), {s['failed']} failed, {s['retries']} retries, {s['seconds']:.1f} s, "
            f"{s['queries_per_s']:.2f} queries/s, stop: {s['stop_reason']}")
    return "\n".join(lines)

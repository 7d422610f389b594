"""Versioned prompt templates for preference queries (the version is part of every cache key).

Two-stage querying (as in RL-VLM-F):
  * stage 1 (vision): the goal text and two images, introduced as Image 1 and Image 2; asks what
    each image shows and whether they differ in achieving the goal;
  * stage 2 (text only): stage 1's answer; asks for one line: 0 (goal better achieved in Image 1),
    1 (in Image 2), -1 (unsure / no difference).
The single-call variant asks for the analysis and the label line in one reply.

Changing any wording means adding a new version: answers stored under an old version are never
reused for a new one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PromptSet:
    intro: str  # before Image 1
    between: str  # between Image 1 and Image 2
    stage1: str  # after Image 2 (two-stage)
    stage2: str  # text-only labeling prompt; {analysis} is stage 1's reply
    single: str  # after Image 2 (single-call variant)


_V1 = PromptSet(
    intro="You will compare two pictures of the same robot scene. The goal is: {goal}.\n\nImage 1:",
    between="Image 2:",
    stage1=(
        "Answer three questions.\n"
        "1. Describe what Image 1 shows, focusing on the objects that matter for the goal.\n"
        "2. Describe what Image 2 shows, focusing on the same objects.\n"
        "3. The goal is: {goal}. Is there a difference between the two images in how far the "
        "goal is achieved? If so, which image is closer to achieving it, and why?"
    ),
    stage2=(
        "Someone compared two images, Image 1 and Image 2, of a robot scene against the goal: "
        "{goal}.\nTheir analysis was:\n---\n{analysis}\n---\n"
        "Based only on this analysis, reply with a single line holding a single number: "
        "0 if the goal is better achieved in Image 1, 1 if it is better achieved in Image 2, "
        "-1 if the analysis is unsure or sees no difference. Reply with the number only."
    ),
    single=(
        "First describe what each image shows, focusing on the objects that matter for the goal, "
        "and say whether they differ in how far the goal ({goal}) is achieved. Then end your reply "
        "with a last line holding a single number only: 0 if the goal is better achieved in "
        "Image 1, 1 if in Image 2, -1 if unsure or no difference."
    ),
)

PROMPTS: dict[str, PromptSet] = {"v1": _V1}


def get_prompts(version: str) -> PromptSet:
    if version not in PROMPTS:
        raise ValueError(
            f"unknown prompt_version '{version}'; available: {', '.join(sorted(PROMPTS))} "
            f"(set feedback.prompt_version to one of them)")
    return PROMPTS[version]


def _goal(task: str) -> str:
    return task.strip().rstrip(".")


def vision_messages(task: str, image0_url: str, image1_url: str, version: str,
                    single: bool = False) -> list[dict]:
    """OpenAI-style chat messages: text, Image 1, text, Image 2, question (two image parts)."""
    p = get_prompts(version)
    goal = _goal(task)
    question = (p.single if single else p.stage1).format(goal=goal)
    content = [
        {"type": "text", "text": p.intro.format(goal=goal)},
        {"type": "image_url", "image_url": {"url": image0_url}},
        {"type": "text", "text": p.between},
        {"type": "image_url", "image_url": {"url": image1_url}},
        {"type": "text", "text": question},
    ]
    return [{"role": "user", "content": content}]


def label_messages(task: str, analysis: str, version: str) -> list[dict]:
    """Stage-2 messages: text only."""
    p = get_prompts(version)
    return [{"role": "user", "content": p.stage2.format(goal=_goal(task), analysis=analysis.strip())}]


def reason_line(analysis: str | None, width: int = 160) -> str:
    """The VLM's reason in one line: its answer to the last question ("3. ...") of the analysis,
    else the analysis's last line with words (a bare label like "1" is not a reason); '' without
    an analysis (a scripted teacher)."""
    import re

    lines = [ln.strip() for ln in (analysis or "").splitlines() if re.search(r"[A-Za-z]{2}", ln)]
    if not lines:
        return ""
    answer = [ln for ln in lines if re.match(r"^(\*\*)?3[.):]", ln)]
    line = re.sub(r"^(\*\*)?3[.):]\s*(\*\*)?\s*", "", answer[-1] if answer else lines[-1])
    line = " ".join(line.split()) or lines[-1]
    return line if len(line) <= width else line[: width - 1].rstrip() + "…"

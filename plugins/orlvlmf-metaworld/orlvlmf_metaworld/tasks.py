"""The goal sentence of every MetaWorld v3 task (cheap: no metaworld import).

``env: {name: metaworld, task: <name>}`` takes its ``task_text`` from here unless the run config
sets ``task:``.  Sentences name what a camera sees being done, in RL-VLM-F's style ("to open the
drawer").  A test checks that every task metaworld ships has one.
"""

from __future__ import annotations

import difflib

TASK_TEXTS = {
    "assembly-v3": "to put the ring onto the peg",
    "basketball-v3": "to put the ball into the basket",
    "bin-picking-v3": "to move the cube from the red bin into the blue bin",
    "box-close-v3": "to put the lid on the box",
    "button-press-topdown-v3": "to press the button down from above",
    "button-press-topdown-wall-v3": "to press the button down from above",
    "button-press-v3": "to press the button",
    "button-press-wall-v3": "to press the button",
    "coffee-button-v3": "to press the button of the coffee machine",
    "coffee-pull-v3": "to pull the mug away from the coffee machine",
    "coffee-push-v3": "to push the mug under the coffee machine",
    "dial-turn-v3": "to turn the dial",
    "disassemble-v3": "to pull the ring off the peg",
    "door-close-v3": "to close the door",
    "door-lock-v3": "to lock the door by turning the lock",
    "door-open-v3": "to open the door",
    "door-unlock-v3": "to unlock the door by turning the lock",
    "hand-insert-v3": "to put the gripper into the hole",
    "drawer-close-v3": "to close the drawer",
    "drawer-open-v3": "to open the drawer",
    "faucet-open-v3": "to turn the faucet handle open",
    "faucet-close-v3": "to turn the faucet handle closed",
    "hammer-v3": "to hammer the nail into the wall",
    "handle-press-side-v3": "to press the handle down",
    "handle-press-v3": "to press the handle down",
    "handle-pull-side-v3": "to pull the handle up",
    "handle-pull-v3": "to pull the handle up",
    "lever-pull-v3": "to pull the lever up",
    "pick-place-wall-v3": "to pick up the puck and place it at the goal behind the wall",
    "pick-out-of-hole-v3": "to pick the peg out of the hole",
    "pick-place-v3": "to pick up the puck and place it at the goal",
    "plate-slide-v3": "to slide the plate into the goal",
    "plate-slide-side-v3": "to slide the plate sideways into the goal",
    "plate-slide-back-v3": "to slide the plate back out of the goal",
    "plate-slide-back-side-v3": "to slide the plate sideways out of the goal",
    "peg-insert-side-v3": "to insert the peg into the hole of the box",
    "peg-unplug-side-v3": "to unplug the peg from the box",
    "soccer-v3": "to move the soccer ball into the goal",
    "stick-push-v3": "to push the thermos to the goal with the stick",
    "stick-pull-v3": "to pull the thermos to the goal with the stick",
    "push-v3": "to push the puck to the goal",
    "push-wall-v3": "to push the puck past the wall to the goal",
    "push-back-v3": "to pull the puck back to the goal",
    "reach-v3": "to move the gripper to the goal",
    "reach-wall-v3": "to move the gripper past the wall to the goal",
    "shelf-place-v3": "to place the puck on the shelf",
    "sweep-into-v3": "to sweep the puck into the hole",
    "sweep-v3": "to sweep the puck off the table",
    "window-open-v3": "to slide the window open",
    "window-close-v3": "to slide the window closed",
}


def resolve_task(name: str, known) -> str:
    """``door-open`` or ``door-open-v3`` → ``door-open-v3``; unknown names fail with the closest one."""
    from orlvlmf.env import EnvError

    known = list(known)
    if not name or name == "???":
        raise EnvError("env.task is required: the MetaWorld v3 task to run, e.g. env.task=door-open-v3 "
                       f"({len(known)} tasks: {', '.join(known)})")
    for cand in (name, f"{name}-v3"):
        if cand in known:
            return cand
    hint = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    raise EnvError(f"env.task '{name}' is not a MetaWorld v3 task"
                   + (f"; did you mean '{hint[0]}'?" if hint else "")
                   + f" Tasks: {', '.join(known)}")

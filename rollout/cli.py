"""`coach rollout ...`: the group the progressive-delivery commands hang from.

Each command lives in a module of its own and is added here, so that the command line
imports a command's code only when that command runs.
"""

from __future__ import annotations

import click


@click.group()
def rollout() -> None:
    """Move /fitness/wod to coach in phases: shadow traffic, its gate, the canary."""


from rollout.compare_command import compare  # noqa: E402 (the group first, then its commands)

rollout.add_command(compare)

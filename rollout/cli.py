"""`coach rollout ...`: the group the progressive-delivery commands hang from.

Each command lives in a module of its own and is added here, so that the command line
imports a command's code only when that command runs.
"""

from __future__ import annotations

import click

from rollout.canary_cli import canary
from rollout.compare_command import compare


@click.group()
def rollout() -> None:
    """Move /fitness/wod to coach in phases: shadow traffic, its gate, the canary."""


rollout.add_command(compare)
rollout.add_command(canary)

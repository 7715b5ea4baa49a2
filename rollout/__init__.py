"""Progressive delivery of /fitness/wod: the shadow comparison gate and the automated canary.

Tools an operator runs beside nginx (docs/RUNBOOK.md); the service never imports them.
"""

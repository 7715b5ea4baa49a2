"""coach: the command line and composition root. `cli.py` holds the `coach` group and the
service commands (consume, api, run); the operator commands are grouped by what they act on
(event_commands.py, projection_commands.py, dead_letter_commands.py, erasure_commands.py,
token_command.py, and rollout/cli.py), with what they share in command_support.py. The
settings live in config/; nothing imports this package."""

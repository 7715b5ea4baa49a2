"""The WOD's rules, pure: choosing the exercises, the day window, a user's history and the
suggested performances. Plain data in, plain data out: no I/O, no clock, no framework, and
nothing of coach's imported (tests/unit/test_layers.py)."""

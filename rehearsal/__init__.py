"""The migration rehearsed end to end (`make rehearsal`): every part real and started by the
project's own tools, the ADR's phases under load, faults at known moments, and an account of
every event. docs/REHEARSAL.md describes it; `python -m rehearsal --help` lists the options."""

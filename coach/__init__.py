"""coach: the composition root (settings and the `coach` command line)."""

"""The error of a record that cannot be decoded."""


class DecodeError(ValueError):
    """A record that cannot be decoded or validated; the message says why."""

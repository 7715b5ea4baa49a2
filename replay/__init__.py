"""Rebuilding the projection from the topics beside the live one, and swapping it in."""

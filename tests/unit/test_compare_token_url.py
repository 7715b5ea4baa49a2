"""`coach rollout compare --token-url`: the token endpoint's answer read, and a refusal said."""

from __future__ import annotations

import click
import pytest

from rollout.compare_command import access_token_of, issue


def test_the_access_token_is_read_from_the_endpoints_json():
    """{"access_token": ...} gives the token."""
    assert access_token_of(b'{"access_token": "abc", "token_type": "Bearer"}') == "abc"


@pytest.mark.parametrize(
    "answer", [b"", b"<html>", b"[]", b'{"token": "x"}', b'{"access_token": 3}']
)
def test_an_answer_without_an_access_token_is_a_clear_error(answer):
    """Not JSON, not an object, no access_token, not a string: a ClickException, not a crash."""
    with pytest.raises(click.ClickException, match="no access_token"):
        access_token_of(answer)


def test_a_token_url_that_is_not_http_is_refused():
    """A file: URL is never opened."""
    with pytest.raises(click.ClickException, match="only http and https"):
        issue("file:///etc/passwd", "1", "UTC", 1.0)

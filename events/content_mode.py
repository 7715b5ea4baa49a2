"""The two content modes of the CloudEvents Kafka protocol binding: which one a record's
headers say it is in, and its `ce_*` attributes. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from events.errors import DecodeError

TEXT_MAX = 200
"""Longest text of a required `ce_*` attribute."""

STRUCTURED_MEDIA_TYPE = "application/cloudevents+json"
"""The `content-type` of a structured-mode record in the JSON event format."""


def media_type(content_type: bytes | None) -> str:
    """`application/json; charset=utf-8` -> `application/json` (lower case)."""
    if content_type is None:
        return ""
    try:
        text = content_type.decode()
    except UnicodeDecodeError:
        raise DecodeError("content-type header is not UTF-8 text") from None
    return text.split(";", 1)[0].strip().lower()


def content_mode(headers: Sequence[tuple[str, bytes | None]]) -> dict[str, bytes | None] | None:
    """The `ce_*` headers of a binary-mode record; None for a structured-mode one.

    The Kafka protocol binding's rule: a `content-type` of a CloudEvents media type
    (`application/cloudevents...`) is structured mode; else a `ce_specversion` header is
    binary mode; else, with no `content-type` at all, the value is taken as a structured
    event in JSON, as coach always has. Anything else (a `content-type` such as
    `application/json` or `text/plain` and no `ce_specversion`) is neither: DecodeError."""
    content_type: bytes | None = None
    has_content_type = False
    attributes: dict[str, bytes | None] = {}
    for name, raw in headers:
        lowered = name.lower()
        if lowered == "content-type":
            content_type, has_content_type = raw, True
        elif lowered.startswith("ce_"):
            attributes[lowered] = raw
    if has_content_type:
        media = media_type(content_type)
        if media.startswith("application/cloudevents"):
            if media != STRUCTURED_MEDIA_TYPE:
                raise DecodeError(
                    f"structured-mode event in an unsupported format ({media!r}): "
                    f"only {STRUCTURED_MEDIA_TYPE} is read"
                )
            return None
    if "ce_specversion" in attributes:
        attributes["content-type"] = content_type
        return attributes
    if has_content_type:
        raise DecodeError(
            f"neither a structured-mode CloudEvent (content-type is {media_type(content_type)!r},"
            f" not {STRUCTURED_MEDIA_TYPE}) nor a binary-mode one (no ce_specversion header)"
        )
    return None


def attribute(attributes: dict[str, bytes | None], header: str, *, required: bool) -> str | None:
    raw = attributes.get(header)
    if raw is None:
        if required:
            raise DecodeError(f"binary-mode event without a {header} header")
        return None
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise DecodeError(f"{header} header is not UTF-8 text") from None
    if required and not 0 < len(text) <= TEXT_MAX:
        raise DecodeError(f"{header} header must be 1 to {TEXT_MAX} characters")
    return text

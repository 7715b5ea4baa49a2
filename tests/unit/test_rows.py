"""How a completed workout's exercises are stored (the `exercises` blob)."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from store.rows import decode_exercises, encode_exercises
from wod.history import CompletedRow

entries = st.lists(
    st.tuples(
        st.integers(1, 2**63 - 1),
        st.integers(1, 100_000),
        st.integers(1, 100_000),
        st.floats(0.0, 10_000.0),
    ),
    max_size=8,
)


@given(entries)
def test_blob_round_trips(rows):
    """What is stored reads back as the same entries."""
    assert decode_exercises(encode_exercises(rows)) == [CompletedRow(*r) for r in rows]


@given(entries)
def test_blob_is_byte_for_byte_what_earlier_versions_wrote(rows):
    """Files written before the encoder changed (orjson) hold the same bytes for the same
    workout, so a replay's table checksums still match a projection built by them."""
    assert encode_exercises(rows) == orjson.dumps(rows)


def test_tiny_weights_use_the_same_exponent_form():
    rows = [(1, 1, 1, 1e-7), (2, 1, 1, 5e-324), (3, 1, 1, 0.1 + 0.2)]
    assert encode_exercises(rows) == orjson.dumps(rows)


def test_a_blob_of_another_shape_is_read_as_before():
    """msgspec reads the usual shape; anything else goes the old way (never an error)."""
    odd = b'[[1, 3.0, 10, 5], [3, 1, 1, "heavy"]]'
    assert decode_exercises(odd) == [CompletedRow(*r) for r in orjson.loads(odd)]


def test_an_integer_weight_reads_as_the_same_number():
    (row,) = decode_exercises(b"[[7, 3, 10, 60]]")
    assert row == CompletedRow(7, 3, 10, 60) and isinstance(row.weight, float)


def test_a_malformed_blob_raises_what_it_always_raised():
    with pytest.raises(orjson.JSONDecodeError):
        decode_exercises(b"[[1, 3, 10,")

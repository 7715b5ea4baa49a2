"""Where reading stands (consumer/positions.py) and topic ids (consumer/topic_ids.py): pure."""

from __future__ import annotations

from io import BytesIO
from typing import NamedTuple

from consumer.positions import beyond_end, moved
from consumer.topic_ids import (
    NO_ID,
    MetadataRequest_v12,
    MetadataResponse_v12,
    TopicIdsRequest,
    parse,
    recreated,
)
from store.rows import PositionRow


class Last(NamedTuple):
    timestamp: int | None


def test_positions_past_transaction_markers_are_stored_with_or_without_a_record():
    """Hardening item 5: the position after a transaction's records is past its commit
    marker; a fetch of markers (or aborted records) only moves it with no record."""
    known = {("t", 0): 0, ("t", 1): 4, ("t", 2): 7}
    reached = {("t", 0): 4, ("t", 1): 6, ("t", 2): 7}
    rows = moved(known, reached, {("t", 0): Last(1_000)}, {("t", 0): 4, ("t", 1): 6})
    assert rows == [
        PositionRow("t", 0, 4, 4, 1_000_000),  # 3 records and a commit marker
        PositionRow("t", 1, 6, 6, None),  # an aborted transaction: no record, no time
    ]


def test_a_stored_offset_past_the_end_of_its_partition_is_found():
    assert beyond_end({("t", 0): 5, ("t", 1): 3, ("u", 0): 9}, {("t", 0): 5, ("t", 1): 2}) == {
        ("t", 1): (3, 2)
    }


def test_a_topic_with_another_id_was_created_again():
    a, b = bytes(range(16)), bytes(range(1, 17))
    assert recreated({"t": a, "u": a}, {"t": a, "u": b, "v": b}) == ["u"]
    assert recreated({}, {"t": a}) == []


def test_the_metadata_v12_request_and_response_round_trip():
    request = TopicIdsRequest(["b", "a"]).build(MetadataRequest_v12)
    assert request.FLEXIBLE_VERSION
    assert request.encode() == (
        b"\x03"  # 2 topics, compact
        + NO_ID
        + b"\x02a"
        + b"\x00"
        + NO_ID
        + b"\x02b"
        + b"\x00"
        + b"\x00\x00\x00"  # no auto-creation, no authorized operations, no tags
    )
    a = bytes(range(16))
    response = MetadataResponse_v12(
        0,
        [(1, "localhost", 9092, None, {})],
        "cluster",
        1,
        [
            (0, "a", a, False, [(0, 0, 1, 0, [1], [1], [], {})], -2147483648, {}),
            (3, "gone", NO_ID, False, [], -2147483648, {}),  # UNKNOWN_TOPIC_OR_PARTITION
        ],
        {},
    )
    decoded = MetadataResponse_v12.decode(BytesIO(response.encode()))
    assert parse(decoded) == {"a": a}

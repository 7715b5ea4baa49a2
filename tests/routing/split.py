"""Where nginx's split_clients puts a request, computed the way nginx computes it
(ngx_murmur_hash2 over the key, then the cumulative 1 % buckets of the template), so that a
test can say in advance which side each token must land on."""

from __future__ import annotations

import re

SALT = "strangler-56:"
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """MurmurHash2 as nginx's ngx_murmur_hash2 computes it (seed: the length)."""
    h = len(data) & _MASK
    end = len(data) - len(data) % 4
    for i in range(0, end, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    rest = data[end:]
    if len(rest) == 3:
        h ^= rest[2] << 16
    if len(rest) >= 2:
        h ^= rest[1] << 8
    if rest:
        h ^= rest[0]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


# The template's map $http_authorization $coach_split_key: a bearer token, however spelled.
_BEARER = re.compile(r"^[ \t]*bearer[ \t]+([^ \t]+)[ \t]*$", re.IGNORECASE)


def split_key(authorization: str) -> str:
    """The key nginx hashes for this Authorization header: "Bearer <token>" for a bearer token
    whatever the scheme's case and the spaces around it, else the header as it came."""
    match = _BEARER.match(authorization)
    return f"Bearer {match.group(1)}" if match else authorization


def bucket(authorization: str) -> int:
    """The template's bucket (0..99) of a request with this Authorization header ("" if none).

    split_clients turns each cumulative percentage p into the bound p * 0xffffffff / 10000
    (p in hundredths of a percent) and picks the first bucket whose bound exceeds the hash.
    """
    h = murmur2((SALT + split_key(authorization)).encode())
    for n in range(99):
        if h < (n + 1) * 100 * 0xFFFFFFFF // 10000:
            return n
    return 99


def side(authorization: str, percent: int) -> str:
    return "coach" if bucket(authorization) < percent else "legacy"

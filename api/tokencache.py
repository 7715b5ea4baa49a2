"""A bounded cache of verified tokens in front of a TokenVerifier.

Keyed by the exact token string: a hit means the very same bytes were verified before.
Only tokens that passed verification are stored, with their `exp`; a hit at or after `exp`
is dropped and verified again (so the cache never extends a token's life, not even by the
verifier's leeway). Least recently used entries go first when the cache is full. The
tokens of an erased user are dropped (`forget`) when the api learns of the erasure. When
the verifier's keys lose a key (`key_generation` grows: the issuer removed it from its key
set, api/jwksrefresh.py), every held token is dropped and verified again on its next use, so
that a token of a removed key is refused from the moment the api knows of the removal.

An entry is a plain tuple of a string, a string or None, and a float: the garbage collector
stops tracking such tuples, so a full cache adds nothing to the full collections, which
otherwise grew with it (a full collection stalled a process for 40-107 ms under the cold
mix of bench/tail.py, every request a new token).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Collection

from api.auth import Principal, TokenVerifier, bearer_token


class CachedVerifier:
    def __init__(
        self, verifier: TokenVerifier, size: int, clock: Callable[[], float] = time.time
    ) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self.verifier = verifier
        self.size = size
        self._clock = clock
        self._entries: OrderedDict[str, tuple[str, str | None, float]] = OrderedDict()
        """token -> (user id, zoneinfo claim, exp)."""
        self._generation = verifier.key_generation
        """The verifier's key generation the held tokens were verified under."""

    def __len__(self) -> int:
        return len(self._entries)

    def verify_header(self, authorization: str | None) -> Principal:
        return self.verify(bearer_token(authorization))

    def verify(self, token: str) -> Principal:
        entries = self._entries
        generation = self.verifier.key_generation
        if generation != self._generation:
            entries.clear()
            self._generation = generation
        hit = entries.get(token)
        if hit is not None:
            if self._clock() < hit[2]:
                entries.move_to_end(token)
                return Principal(hit[0], hit[1])
            entries.pop(token, None)
        verified = self.verifier.verify_token(token)  # an AuthError stores nothing
        if self._clock() < verified.expires_at:
            principal = verified.principal
            entries[token] = (principal.user_id, principal.zoneinfo, verified.expires_at)
            while len(entries) > self.size:
                entries.popitem(last=False)
        return verified.principal

    def forget(self, users: Collection[str]) -> None:
        """Drop every cached token of `users` (erased): one pass over the cache."""
        wanted = set(users)
        if not wanted:
            return
        entries = self._entries
        for token in [t for t, v in entries.items() if v[0] in wanted]:
            del entries[token]

    def clear(self) -> None:
        self._entries.clear()

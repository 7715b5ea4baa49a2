"""CPU time of coach's token verification per algorithm: the cold mix's cost of a token.

In the cold mix of bench/tail.py every request brings a token not seen before, so each pays
one signature check. This measures that check as coach runs it (api/auth.py for HS256 with a
secret; api/jwksverify.py for RS256, ES256 and EdDSA, a key set held in memory, the key by
`kid`), and a token cache hit, with fresh tokens each round, best of `--rounds`:

    .venv/bin/python bench/jwt_verify.py                 # every algorithm
    .venv/bin/python bench/jwt_verify.py --alg ES256 --tokens 5000

No network: the key set is the stand-in issuer's (deploy/monolith/issuer.py), fetched by a
function. Run it on a quiet machine; the figures go to docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

from api.auth import TokenVerifier
from api.jwksfetch import Fetched
from api.jwksrefresh import JwksKeys
from api.jwksverify import JwksVerifier
from api.tokencache import CachedVerifier
from deploy.monolith.issuer import Issuer

ALGORITHMS = ("HS256", "RS256", "ES256", "EdDSA")
SECRET = "bench-secret-" + "x" * 40


def setup(alg: str) -> tuple[TokenVerifier, Callable[[str], str]]:
    """A verifier and a function signing a token for a user, for `alg`."""
    if alg == "HS256":
        import jwt

        def sign_hs(sub: str) -> str:
            return jwt.encode({"sub": sub, "exp": int(time.time()) + 3600}, SECRET, "HS256")

        return TokenVerifier(key=SECRET, algorithms=("HS256",)), sign_hs
    issuer = Issuer("http://issuer.bench", algorithm=alg, token_ttl=3600)
    keys = JwksKeys(
        fetch=lambda: Fetched(json.dumps(issuer.jwks()).encode(), None),
        algorithms=(alg,),
        min_refresh_seconds=30,
        max_age_seconds=600,
    )
    keys.load()
    verifier = JwksVerifier(key=None, algorithms=(alg,), issuer=issuer.url, keys=keys)
    return verifier, issuer.sign


def measure(alg: str, tokens: int, rounds: int) -> tuple[float, float]:
    """Best CPU microseconds per token: a first verification, a cache hit."""
    verifier, sign = setup(alg)
    cold = hit = float("inf")
    for r in range(rounds):
        batch = [sign(f"u{r}-{i}") for i in range(tokens)]
        cached = CachedVerifier(verifier, tokens)
        started = time.process_time()
        for token in batch:
            cached.verify(token)
        cold = min(cold, (time.process_time() - started) / tokens)
        started = time.process_time()
        for token in batch:
            cached.verify(token)
        hit = min(hit, (time.process_time() - started) / tokens)
    return cold * 1e6, hit * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alg", choices=ALGORITHMS, action="append")
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print("| algorithm | first verification, us per token | cache hit, us |")
    print("| --- | ---: | ---: |")
    for alg in args.alg or ALGORITHMS:
        cold, hit = measure(alg, args.tokens, args.rounds)
        print(f"| {alg} | {cold:.1f} | {hit:.2f} |")


if __name__ == "__main__":
    main()

"""The section of docs/BENCHMARKS.md on token verification by algorithm (bench/report.py
puts it after the starvation section): what bench/jwt_verify.py measures and how. Not
measured yet (the figures must come from a quiet machine), so the text is written by hand
until bench/results/ holds its figures."""

JWT_SECTION = """## Token verification by algorithm (RS256, ES256, EdDSA against HS256)

Not measured yet: the figures must come from a quiet machine. A deployment that verifies
with the issuer's key set (`COACH_JWT_JWKS_URL`, docs/API.md "Auth") pays an RS256, ES256
or EdDSA signature check where the figures above pay HS256's, once per token: the token
cache makes a token's later requests cost the same whatever the algorithm, so the
difference shows in the cold mix of bench/tail.py (every request a new token) and nowhere
else. Key lookup by `kid` is a dictionary read, and the key set is fetched off the request
path, so the check itself is the whole difference. It is measured in two steps:

1. The check as coach runs it, per algorithm (api/auth.py for HS256, api/jwksverify.py for
   the others, a key set in memory), CPU microseconds per first verification and per cache
   hit, best of 5 rounds of 2,000 fresh tokens: `.venv/bin/python bench/jwt_verify.py`.
2. Its share of a cold request: that figure against the cold mix's CPU time per request
   (`bench/wod_inprocess.py --plain`, cold rows), which gives the expected cold throughput
   of an RS256 or ES256 deployment next to HS256's without a separate server run.

"""

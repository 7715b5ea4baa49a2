"""Hostile requests for GET /fitness/wod, as raw bytes, and a socket client that sends them.

One corpus for every test, load test and rehearsal that asks "whatever its bytes, does a
request get a 5xx, a non-JSON error, or reach the monolith after coach refused it?" (issue
26): tests/integration/test_api_hostile.py sends it to a real `coach api`,
tests/routing/test_hostile.py through the real nginx template with coach behind it,
tests/cdc/test_monolith_wod.py to the stand-in monolith, and the load test's hostile
clients (deploy/loadtest/seed.py) through nginx. It lives here, beside the load test that
ships it; tests/hostile_corpus.py re-exports it.

`probes(secret)` builds it: Authorization headers (schemes, whitespace, duplicates, sizes,
control and non-UTF-8 bytes), tokens whose every JSON member (header: alg, typ, kid, crit;
payload: sub, zoneinfo, iss, aud, exp, nbf, iat, jti) is a lone surrogate, a list, an
object, a huge number, NaN... both signed with `secret` and signed by nobody, hostile `tz`
and `fresh` values, odd paths, targets, methods and Host headers. Requests are written by
hand (deploy/loadtest/raw_http.py) because HTTP clients refuse to send most of them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from deploy.loadtest.raw_http import Probe

NOBODY = b"a secret nobody configured, long enough for HS256"
FAR = b"99999999999"  # an exp far ahead


def b64(raw: bytes) -> bytes:
    return base64.urlsafe_b64encode(raw).rstrip(b"=")


def signed(header: bytes, payload: bytes, secret: bytes) -> bytes:
    """A compact HS256 JWS of raw JSON texts (escapes kept as written)."""
    signing_input = b64(header) + b"." + b64(payload)
    return signing_input + b"." + b64(hmac.digest(secret, signing_input, hashlib.sha256))


HS256 = b'{"alg":"HS256","typ":"JWT"}'
GOOD_CLAIMS = b'{"sub":"7","exp":' + FAR + b"}"

# JSON values that no member should survive as (raw JSON text).
HOSTILE_VALUES: dict[str, bytes] = {
    "lone surrogate": b'"\\ud800"',
    "low surrogate": b'"x\\udfff"',
    "NUL": b'"a\\u0000b"',
    "control": b'"a\\u001bb\\n"',
    "C1 control": b'"a\\u0085"',
    "list of surrogate": b'["\\ud800"]',
    "object": b'{"\\ud800":"\\ud800"}',
    "huge number": b"1" + b"0" * 400,
    "huge float": b"1e400",
    "NaN": b"NaN",
    "-Infinity": b"-Infinity",
    "negative": b"-1",
    "empty string": b'""',
    "null": b"null",
    "true": b"true",
    "long string": b'"' + b"x" * 3000 + b'"',
    "deep": b"[" * 300 + b"]" * 300,
}
HEADER_MEMBERS = (b"alg", b"typ", b"kid", b"crit")
PAYLOAD_MEMBERS = (b"sub", b"zoneinfo", b"iss", b"aud", b"exp", b"nbf", b"iat", b"jti")


def _with(json_object: bytes, member: bytes, value: bytes) -> bytes:
    """`json_object` (a JSON object text) with `member` set to raw `value`, put last (so it
    wins over an earlier one of the same name)."""
    return json_object[:-1] + b',"' + member + b'":' + value + b"}"


def _bearer(name: str, token: bytes) -> Probe:
    return Probe(name, headers=((b"authorization", b"Bearer " + token),))


def token_probes(secret: bytes) -> list[Probe]:
    found = []
    for key_name, key in (("signed", secret), ("unsigned", NOBODY)):
        for value_name, value in HOSTILE_VALUES.items():
            for member in HEADER_MEMBERS:
                token = signed(_with(HS256, member, value), GOOD_CLAIMS, key)
                found.append(_bearer(f"{key_name} header {member.decode()}={value_name}", token))
            for member in PAYLOAD_MEMBERS:
                token = signed(HS256, _with(GOOD_CLAIMS, member, value), key)
                found.append(_bearer(f"{key_name} claim {member.decode()}={value_name}", token))
    good = signed(HS256, GOOD_CLAIMS, secret)
    found += [
        _bearer(
            "crit of a lone surrogate (issue 26)",
            signed(b'{"alg":"HS256","crit":["\\ud800"]}', GOOD_CLAIMS, NOBODY),
        ),
        _bearer("header not an object", signed(b'"\\ud800"', GOOD_CLAIMS, secret)),
        _bearer("payload not an object", signed(HS256, b'["\\ud800"]', secret)),
        _bearer("payload not JSON", signed(HS256, b"\xff\xfe{", secret)),
        _bearer(
            "header not UTF-8", signed(b'{"alg":"HS256","typ":"\xed\xa0\x80"}', GOOD_CLAIMS, secret)
        ),
        _bearer("duplicate alg", signed(b'{"alg":"none","alg":"HS256"}', GOOD_CLAIMS, secret)),
        _bearer("alg none", b64(b'{"alg":"none"}') + b"." + b64(GOOD_CLAIMS) + b"."),
        _bearer("padded base64", good.replace(b".", b"==.", 1)),
        _bearer("standard base64 alphabet", good.replace(b"-", b"+").replace(b"_", b"/")),
        _bearer("bad base64", b"@@@.@@@.@@@"),
        _bearer("four parts", good + b".x"),
        _bearer("two parts", good.rsplit(b".", 1)[0]),
        _bearer("only dots", b"...."),
        _bearer("empty parts", b".."),
        _bearer("trailing garbage", good + b"\xff"),
    ]
    return found


def header_probes(secret: bytes) -> list[Probe]:
    good = signed(HS256, GOOD_CLAIMS, secret)
    values: dict[str, bytes] = {
        "empty": b"",
        "scheme only": b"Bearer",
        "scheme and space": b"Bearer ",
        "scheme and spaces": b"Bearer    ",
        "Basic with a valid JWT": b"Basic " + good,
        "Token with a valid JWT": b"Token " + good,
        "Basic credentials": b"Basic dXNlcjpwYXNzd29yZA==",
        "lower-case scheme": b"bearer " + good,
        "tab after scheme": b"Bearer\t" + good,
        "two spaces": b"Bearer  " + good,
        "leading space": b" Bearer " + good,
        "token and more": b"Bearer " + good + b" more",
        "two tokens, comma": b"Bearer " + good + b", Bearer " + good,
        "NUL in token": b"Bearer " + good[:10] + b"\x00" + good[10:],
        "control bytes": b"Bearer \x01\x02\x03\x1b[31m",
        "DEL": b"Bearer \x7f" + good,
        "non-UTF-8 bytes": b"Bearer \xff\xfe\xfd",
        "latin-1 letters": b"Bearer \xe9t\xe9." + good,
        "UTF-8 of a surrogate": b"Bearer \xed\xa0\x80",
        "token over the cap": b"Bearer " + b"a" * 5000,
        "huge token": b"Bearer " + b"a.b." * 4000,
        "surrogate escape text": b"Bearer \\ud800",
    }
    found = [Probe("no Authorization header")]
    found += [
        Probe(f"Authorization: {n}", headers=((b"authorization", v),)) for n, v in values.items()
    ]
    found += [
        Probe(
            "two headers: Basic then Bearer",
            headers=(
                (b"authorization", b"Basic dXNlcjpwdw=="),
                (b"authorization", b"Bearer " + good),
            ),
        ),
        Probe(
            "two headers: good then forged",
            headers=(
                (b"authorization", b"Bearer " + good),
                (b"authorization", b"Bearer " + signed(HS256, GOOD_CLAIMS, NOBODY)),
            ),
        ),
        Probe(
            "two headers: forged then good",
            headers=(
                (b"authorization", b"Bearer " + signed(HS256, GOOD_CLAIMS, NOBODY)),
                (b"authorization", b"Bearer " + good),
            ),
        ),
        Probe("header name in capitals", headers=((b"AUTHORIZATION", b"Bearer " + good),)),
    ]
    return found


TZ_VALUES = [
    b"%ED%A0%80",
    b"%00",
    b"UTC%00",
    b"%FF%FE",
    b"..%2F..%2Fetc%2Fpasswd",
    b"/etc/localtime",
    b"A" * 3000,
    b"%",
    b"%zz",
    b"\\ud800",
    b"Europe/Berlin%0D%0ASet-Cookie:%20x=1",
    b"",
    b"UTC&tz=%ED%A0%80",
    b"%E2%80%AEUTC",
]


def query_probes(secret: bytes) -> list[Probe]:
    auth = ((b"authorization", b"Bearer " + signed(HS256, GOOD_CLAIMS, secret)),)
    found = [
        Probe(f"tz={v[:40]!r}", target=b"/fitness/wod?tz=" + v, headers=auth) for v in TZ_VALUES
    ]
    found += [
        Probe("fresh of a surrogate", target=b"/fitness/wod?fresh=%ED%A0%80", headers=auth),
        Probe("fresh=NaN", target=b"/fitness/wod?fresh=NaN", headers=auth),
        Probe("tz[]", target=b"/fitness/wod?tz[]=UTC", headers=auth),
        Probe("semicolons", target=b"/fitness/wod?;tz=UTC;", headers=auth),
        Probe(
            "zoneinfo claim unknown",
            headers=(
                (
                    b"authorization",
                    b"Bearer "
                    + signed(HS256, _with(GOOD_CLAIMS, b"zoneinfo", b'"Mars/Olympus"'), secret),
                ),
            ),
        ),
    ]
    return found


PATHS = [
    b"/fitness/wod/",
    b"/fitness/wod//",
    b"//fitness/wod",
    b"/fitness/wod/..",
    b"/fitness/%77od",
    b"/fitness/wod%00",
    b"/fitness/wod%2F",
    b"/FITNESS/WOD",
    b"/fitness/wod;x",
    b"/%ff",
    b"/fitness/wod?%",
    b"/fitness/\xffwod",
    b"/fitness/wod?tz=\xff\xfe",
    b"/fitness/wod/\xed\xa0\x80",
    b"/fitness/wod?" + b"&" * 3000,
    b"http://evil.example/fitness/wod",
    b"/fitness/wod/?tz=%ED%A0%80",
]
METHODS = [b"POST", b"PUT", b"DELETE", b"PATCH", b"OPTIONS", b"TRACE", b"FOO", b"get", b"PROPFIND"]


def request_probes(secret: bytes) -> list[Probe]:
    auth = ((b"authorization", b"Bearer " + signed(HS256, GOOD_CLAIMS, secret)),)
    found = [Probe(f"path {p!r}", target=p, headers=auth) for p in PATHS]
    found += [Probe(f"method {m!r}", method=m, headers=auth) for m in METHODS]
    found += [
        Probe("Host of another site", headers=auth, host=b"evil.example"),
        Probe("negative Content-Length", headers=(*auth, (b"content-length", b"-1"))),
        Probe(
            "two Content-Lengths",
            headers=(*auth, (b"content-length", b"0"), (b"content-length", b"5")),
        ),
        Probe(
            "Content-Length and chunked",
            headers=(*auth, (b"content-length", b"3"), (b"transfer-encoding", b"chunked")),
        ),
        Probe("Expect 100-continue", headers=(*auth, (b"expect", b"100-continue"))),
        Probe("a thousand headers", headers=(*auth, *((b"x-n", b"%d" % n) for n in range(1000)))),
        Probe("no Host", headers=auth, host=None),
        Probe(
            "forwarded proto and host",
            headers=(
                *auth,
                (b"x-forwarded-proto", b"javascript"),
                (b"x-forwarded-for", b"\xff, x"),
            ),
        ),
        Probe(
            "redirect with a hostile Host",
            target=b"/fitness/wod/",
            headers=(*auth, (b"x-forwarded-proto", b"https")),
            host=b"evil.example",
        ),
    ]
    return found


def probes(secret: bytes) -> list[Probe]:
    """The whole corpus, for a coach whose HS256 secret is `secret`."""
    return (
        token_probes(secret) + header_probes(secret) + query_probes(secret) + request_probes(secret)
    )

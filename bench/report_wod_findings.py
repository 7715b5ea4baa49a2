"""The findings of docs/BENCHMARKS.md's tail section, "What made the difference" (written
by hand: the profiles and runs it quotes are not in bench/results/)."""

from __future__ import annotations

WHAT_MADE_THE_DIFFERENCE = """### What made the difference

Found with the in-process comparison above, profiles of it (cProfile, then py-spy), the
event loop lag histogram (`coach_event_loop_lag_seconds`, per process in `/metrics`) and a
second load generator. In the order they were found:

**Saturation came first.** A single worker saturated by a closed loop of 100 or 200
connections gives every app a long p99: the plain app's too, since each connection waits
behind the others, and a saturated loop runs a whole batch of ready requests per turn. The
lag histogram's "stalls" at 200 connections are those turns. coach saturated first, because
each WOD cost more CPU than the plain app's whole request.

Before the changes below, the in-process comparison gave coach's WOD 157 us hot and 415 us
cold, against the plain app's 89 and 190 (one run, the same machine). Most of the
difference was FastAPI's own work: route matching, dependency solving (the bearer scheme,
then the route's own dependency), and FastAPI 0.163's native OpenTelemetry hooks, which
look up the global providers on every request. Three changes addressed it:

1. **A fast path** (api/fastpath.py): a pure ASGI middleware answers GET and HEAD
   /fitness/wod with the function the FastAPI route calls (`api.wod.answer_wod`). The route
   stays declared for the OpenAPI document. tests/integration/test_api_fastpath.py checks
   that both answer byte for byte the same, fuzzed queries and headers included.
2. **FastAPI's telemetry hooks off.** coach's telemetry is its Prometheus /metrics.
3. **PyJWT's HMAC key check done once**, at start-up, instead of on every token. PyJWT
   tries to parse the secret as a PEM, SSH and DER public key each time: a quarter of a
   verification, which the cold mix pays on every request. A token now verifies in about
   40 us, against about 75 us. (Removed with issue 26: it registered a subclass of PyJWT's
   HMAC algorithm on PyJWT's private `_jws`. PyJWT checks the key on every token again;
   coach runs the same check once more at start-up, only to refuse a bad secret early.)

**The open loop's cold tail was the garbage collector.** With every request a new token,
the token cache and the held WODs filled with tracked objects (dataclass instances and
tuples holding a NamedTuple). Each full collection then walked all of them: 40 to 107 ms,
measured with `gc.callbacks` in a real `coach api` under vegeta. One such collection delays
every request that arrives meanwhile, which at 950 requests a second is more than 1 % of a
5 s run: p99 110 ms against the plain app's 3 ms. Both caches now keep flat tuples of
atomic values, which the collector stops tracking. The same run then had no stall over
17 ms, and the cold open loop's p99 at 50 % fell to the plain app's.

**Publish-to-WOD freshness** came from the status cache. Each api process reused the
consumer's status, and with it the change stamp that drops held WODs, for
`COACH_STATUS_CACHE_SECONDS`. At 1 s that was the freshness; at 50 ms the p99 was 158 ms;
at 20 ms, now the default, it is under 100 ms (figures in the next section).

**Then the consumer's own stalls.** On 7 December, 500 probes a run (150 had made the p99
the second-slowest probe, and a lucky run read as a regression) gave a p99 of 171-238 ms
on main and 236-825 ms on the code of 1 December: the tail was old. Timing each step of
the consume loop in those runs showed three stalls, each of which left records waiting:
- aiokafka's fetch in flight asked only for the partitions whose records it did not hold,
  and the broker held it `fetch_max_wait_ms` (500 ms) when those were quiet; the
  consumers now wait 20 ms (config/kafka.py);
- every heartbeat (2 s), the loop asked the broker for metadata with aiokafka's
  `fetch_all_metadata()`: every topic of the cluster (935 on this broker), on the
  connection where the fetch waits. It took 55-300 ms, and the loop took no record
  meanwhile. It now asks for coach's topics, on the coordination connection: 3-7 ms
  (consumer/kafka.py `topic_metadata`; tests/e2e/test_topic_metadata.py);
- every ~10 s the writer's commit that took the WAL past 10,000 pages copied it into the
  database file and synced it: 180-260 ms. A thread of the writer process now checkpoints
  (PASSIVE) every second beside the commits, and no commit does (store/checkpoints.py).

With the three, the p99 is 27-34 ms (max 29-48 ms) over four runs of 500 probes. Ingest
stays above its goal: 0.51-0.65 of the bare reader in four runs, against 0.68-0.74 in two
runs without the checkpoint thread (perhaps a few per cent slower, within this noise;
coach applied 59,000-65,000 events a second, 62,166 on 1 December). Replay did not slow:
1.90x the bare read, against 2.22x without the thread (bench/replay.py, 300,000 events).

**The day's first WOD: the token and the reads.** After those changes coach still reached
only 0.91-0.92 of the plain app's throughput in the cold mix: in process, 266-326 us per
WOD against the plain app's 200-244. py-spy of the cold mix in process
(`py-spy record -r 500` of bench/wod_inprocess.py's loop) put 30 % of a WOD in PyJWT: about
40 us per token alone, 80-90 us inside the busy worker, mostly a Python loop over every
base64url character, the standard library's JSON and option merging, around an HMAC of
3 us. Two changes:

1. **A fast path for the ordinary HS256 token** (api/hmac_tokens.py, since removed). It
   only ever accepted: the signature first, with the configured secret, then every claim
   PyJWT checks with coach's options, for a compact token of canonical base64url, a header
   of `alg` (and `typ`, `kid`) and integer times; every other token went to PyJWT. A token
   verified in 17-22 us with it. It was removed with issue 26, together with the subclass
   of PyJWT's HMAC algorithm that skipped PyJWT's key check per decode (it reached into
   PyJWT's private `_jws`): hand-written verification of tokens is security-critical
   parsing, which a well-kept library must decide, and a returning token costs nothing
   anyway through the token cache (api/tokencache.py). PyJWT now verifies every token's
   first use, in coach as in the plain app. **What that costs**, measured side by side on
   a quiet machine (2026-12-07, the commit before the removal, ded2e47, against main after
   it, alternated twice):

   | | with the fast path and the key check once | PyJWT for every token |
   |---|---:|---:|
   | a fresh HS256 token, CPU per token (best of 7 x 5,000) | 14.7-15.0 us | 72.8-89.6 us |
   | cold mix in process, coach, CPU per request | 166.5-187.5 us | 252.6-258.5 us |
   | cold mix in process, plain app, CPU per request (same runs) | 181.9-201.3 us | 192.1-193.8 us |
   | coach / plain app, cold | 0.92-0.93 | 1.31-1.33 |
   | hot mix, coach / plain app (tokens cached) | 0.27-0.28 | 0.26-0.27 |

   (The token: `TokenVerifier.verify_token` with the secret; the mixes:
   `bench/wod_inprocess.py --plain`.) So a token's first use costs about 60-75 us more,
   and coach's cold request costs more CPU than the plain app's, which pays the same
   PyJWT check (1.31-1.33 against 0.92-0.93): the cold-throughput goal of issue 28 is
   not met without it. cProfile puts the largest share in PyJWT's per-character check
   of each base64url segment
   (`api_jws.py` line 341: 617,890 generator steps for 5,000 tokens), then `json.loads`
   and the key check per decode. The figures above this section were measured with the
   fast path and are not measured again yet; the hot mix is unchanged.
2. **Less Python around the two reads**: a workout's exercises decoded by msgspec straight
   into tuples (1.6 us against 5.3 per workout), the window's entries built only for the
   chosen exercises, the draw's index taken with `getrandbits` as `randrange` takes it (the
   same WOD, seed for seed), the signature in one OpenSSL call, and a user's performances
   read by one primary-key lookup per chosen exercise instead of an IN list (21 us against
   28 with 12 performance rows per user).

**The closed loop's p99 at saturation is a few starved connections.** At 100 and 200
connections, wrk's p99 was in most runs 15 to 60 times its median, for both apps (0.76-1.17 s
in the cold mix at 100 connections, 4.7-5.8 s at 200), and in a few runs about twice it. The
same closed loop from a second client (bench/loop_client.py, the second table above), on
the same kind of fresh server and at the same throughput, saw p99 within about twice the
median, for both apps, and the event loop lag histogram no turn over 250 ms in any run.
This was first put down to wrk; the next section shows what it is: under uvloop, new
connections wait in the accept queue for one loop turn each and some connections are
served only every other turn, and wrk's correction for coordinated omission turns each of
those long waits into many samples. Both clients are reported, and the goal holds with
each.

**The hot open loop's half-second stalls were first visits.** Each run starts a fresh
server; its warm-up used other users, so the hot run began with the first visits of its
1,000 users (a token to verify and a WOD to draw for each, in its first second). On fresh
servers, that gave wrk a p99 of 400-520 ms (max about 1 s); a warm-up with the hot users
themselves gave 21-106 ms (3 fresh servers each). "Hot" means users coming back, so a hot
run now warms up with its own users; a cold run still warms up with others. Since then
coach's hot p99 at 80 % was 4-10 ms in each of three runs. The plain app's still varies
(6-93 ms in the same runs): 80 % of the lower of the two maxima is 80 % of the plain app's
own maximum, where bursts queue, and about half of coach's.

**Through nginx to `--workers 2`, every answer waited for a delayed ACK.** The open loop
to `coach api --workers 2` behind nginx had a p50 of 44-49 ms at 50 % and at 80 % of the
rate, hot and cold, where one worker answered in 0.7-1.3 ms (bench/tail.py --quick, 7
December, before the fix). uvicorn binds the listening socket of `--workers N` itself, as
`socket.socket(family)`, so its proto is 0; asyncio's loop sets TCP_NODELAY only on sockets
whose proto is IPPROTO_TCP, so no connection accepted from it had TCP_NODELAY. uvicorn
writes a response's head and body in two writes: Nagle's algorithm held the body until
nginx acknowledged the head, which Linux's delayed ACK does after 40 ms. uvloop sets
TCP_NODELAY on every TCP socket, so the plain app never showed it. coach's HTTP protocol
(api/refusals.py) now sets it on every connection; the same runs after the fix: p50
0.7-1.3 ms on that path too. The compose stack runs `--workers 2`.

**Each response was two sends.** uvicorn writes a response's head and its body in two
`transport.write` calls, and asyncio's socket transport sends each one at once: two `send`
system calls and, on loopback, two passes through the receiver's side of TCP per response.
cProfile of `coach api` under wrk (hot, 100 connections, 7 December) put `socket.send` first
of the whole server, before any of coach's own code. `api/onewrite.py` holds a write and
sends it with the next one (the body), at the end of the loop turn (a HEAD's head alone) or
before a close: one send per response. Side by side on a quiet machine, direct, 100
connections, three fresh servers each, alternating (a /tmp experiment: the same server with
and without it): hot 5,554 against 5,173 requests a second (median; CPU per request 181
against 193 us), cold 1,730 against 1,576 (590 against 647 us). A few per cent.

**Most of the rest was the ASGI cycle around the WOD.** cProfile of coach's app under uvicorn
with coach's options (hot, 100 connections, 8 December): of the time outside the loop's
polling, about two thirds went to uvicorn's ASGI cycle (a task and an event per request,
the middleware, two ASGI `send` messages with a regex check of every header), a fifth to
`answer_wod`. `answer_wod` never awaits, so coach's protocol (`api/inline.py`) calls it
when the request is complete and writes the same bytes, when nothing else is in flight on
the connection (docs/API.md, "The WOD without an ASGI task"). Side by side (a /tmp A/B, the
same app with `COACH_WOD_INLINE` on and off, another agent's tests sharing the machine, so
CPU per request rather than req/s): hot 129-149 us against 216-261 us, cold 469-546 against
509-715. The tail run above is the first with it: hot throughput 2.5x the plain app's
direct, 2.2x through nginx to `--workers 2`; cold 1.3x and 1.07x direct. Through one worker
behind nginx, and two replicas, nginx shares the load's core, which caps both apps.

**The open loop through nginx above about 2,800 requests a second measures the load
core.** nginx and vegeta share the load's core. Against one coach worker through nginx,
hot, 5 s per rate (/tmp experiment, quiet machine): the load core was 55 % busy at 1,500
req/s, 81 % at 2,300, 91 % at 2,800 (p99 29 ms) and 94-99 % at 3,300, where the p99 went
to 1.3 s in one run and in another every request timed out (vegeta opened connections
until nginx ran out of worker_connections) while coach's core was 11 % busy. The plain app
collapses the same way at the same rates. So the rows at 80 % of the hot maximum behind
nginx (2,500-3,000 req/s) say what the load generator can do, not the apps; the capacity
section is measured on the direct path.

**Left.** Each figure here moves from run to run on this two-core machine (a fresh server
per run, the load generator on the other core): read the ratios of the medians, and the
two clients together."""

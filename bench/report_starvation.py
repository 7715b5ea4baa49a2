"""The section of docs/BENCHMARKS.md on the closed loop's tail under uvloop (bench/report.py
puts it after the tail section). Its figures come from bench/loop_starvation.py runs on a
loaded machine, quoted with their commands; they are not in bench/results/, so this text
is written by hand and changes only when the runs are made again."""

# ruff: noqa: E501 (markdown tables, one row a line)

STARVATION_SECTION = """## Why the closed loop's tail starves under uvloop

The long p99 of the closed loop above is not wrk's alone: most of it is a few connections
that the server leaves waiting for many turns of its event loop, under uvloop (uvicorn's
loop when it is installed), and not under Python's own asyncio loop. bench/loop_starvation.py
shows it without coach: a bare ASGI app (bench/loop_starvation_app.py: 200 us of synchronous
work, then a 2 kB body) under uvicorn with httptools, one worker pinned to core 1, wrk
(`-t1 -c100 -d6s`, timeout 60 s) pinned to core 0, a fresh server per run, and a second,
per-connection client (bench/loop_starvation_client.py) that opens 90 connections at once
and 10 more 1 s later into the saturated server.

All figures of this section are from a **loaded machine** (two cores shared with six other
builds and test runs, load average 11-13): the absolute figures are not a quiet machine's;
compare the rows of one table.

Command: `.venv/bin/python bench/loop_starvation.py --variants plain,yield,h11`
(7 December 2026, load average 12.2 at the start; ms):

| configuration | wrk req/s | wrk p50 | wrk p99 | wrk max | client p99 | client max | late connections: worst first request | others: worst wait after their first | others: fewest / median requests |
|---|---|---|---|---|---|---|---|---|---|
| uvloop | 816 | 107.7 | 3032.5 | 4140.4 | 228.7 | 1101.4 | 1101.4 | 291.4 | 39 / 60 |
| uvloop + yield | 866 | 108.1 | 897.3 | 1610.0 | 284.6 | 511.8 | 511.8 | 320.5 | 45 / 45 |
| uvloop + h11 | 460 | 170.5 | 4567.8 | 6003.4 | 395.8 | 2100.6 | 2100.6 | 498.1 | 22 / 30 |
| asyncio | 885 | 110.9 | 156.7 | 204.1 | 184.2 | 258.8 | 258.8 | 199.9 | 54 / 55 |
| asyncio + yield | 624 | 159.3 | 219.1 | 228.0 | 227.0 | 344.7 | 344.7 | 246.7 | 38 / 39 |
| asyncio + h11 | 430 | 212.4 | 448.9 | 451.2 | 347.7 | 541.9 | 541.9 | 371.4 | 25 / 25 |

("yield": the handler awaits `asyncio.sleep(0)` first; "h11": uvicorn's pure-Python HTTP
protocol.) Through nginx (one worker, an upstream with `keepalive` 32 or 128, as
deploy/nginx has 32), command `.venv/bin/python bench/loop_starvation.py --via nginx
--nginx-keepalive 32,128 --variants plain,yield` (same day, load average 11.8 at the start):

| configuration | wrk req/s | wrk p50 | wrk p99 | wrk max | client p99 | client max | late connections: worst first request | others: worst wait after their first | others: fewest / median requests |
|---|---|---|---|---|---|---|---|---|---|
| uvloop, keepalive 32 | 687 | 79.5 | 2854.7 | 3502.2 | 2778.4 | 3058.2 | 47.0 | 3057.8 | 3 / 37 |
| uvloop, keepalive 128 | 536 | 156.2 | 1170.4 | 2574.3 | 3252.1 | 5846.1 | 5317.6 | 5846.1 | 2 / 35 |
| uvloop + yield, keepalive 32 | 467 | 191.6 | 3587.4 | 4735.4 | 218.0 | 903.0 | 435.5 | 903.0 | 32 / 37 |
| uvloop + yield, keepalive 128 | 714 | 124.9 | 2280.3 | 3002.2 | 1069.0 | 1980.8 | 146.2 | 1980.8 | 25 / 38 |
| asyncio, keepalive 32 | 792 | 121.8 | 234.1 | 402.8 | 357.7 | 459.4 | 392.2 | 459.4 | 34 / 38 |
| asyncio, keepalive 128 | 707 | 133.9 | 240.0 | 246.3 | 349.1 | 663.0 | 663.0 | 387.3 | 35 / 36 |
| asyncio + yield, keepalive 32 | 636 | 152.0 | 276.3 | 324.9 | 252.9 | 338.8 | 338.8 | 315.3 | 38 / 39 |
| asyncio + yield, keepalive 128 | 742 | 132.9 | 200.3 | 223.2 | 238.5 | 338.5 | 166.8 | 338.5 | 38 / 38 |

(Through nginx the client's connections are nginx's, which it accepts at once; nginx opens
its upstream connections to the app as requests need them, so the waits to be accepted
show up in the other connections' columns.)

Where the waits are, seen from the server: `.venv/bin/python bench/loop_starvation.py
--probe --seconds 12 --variants plain,yield` (load average 11.6 at the start) runs wrk
against the same app noting when each connection was made and each request read
(bench/loop_starvation_probe.py). wrk opens its 100 connections within a few milliseconds:

| loop | connections accepted over | requests read per connection once all were accepted (min / p10 / median / max) | wrk req/s | wrk p99 | wrk max |
|---|---|---|---|---|---|
| uvloop | 4,295 ms | 31 / 39 / 43 / 44 (7.4 s) | 586 | 2,703 ms | 4,573 ms |
| uvloop + yield | 2,258 ms | 83 / 83 / 84 / 84 (9.4 s) | 861 | 1,245 ms | 2,367 ms |
| asyncio | 46 ms | 88 / 88 / 88 / 89 (11.6 s) | 760 | 277 ms | 309 ms |
| asyncio + yield | 63 ms | 84 / 84 / 84 / 85 (11.5 s) | 743 | 530 ms | 552 ms |

And in the kernel: `ss -Htln "sport = :PORT"` every 200 ms during a uvloop run showed 77
connections waiting in the listening socket's accept queue, draining to 0 over about 2.5 s;
`strace -f -p PID -e trace=epoll_pwait,accept4` on the server showed every `epoll_pwait`
(returning 46 to 55 ready descriptors, the listening socket first) followed by exactly one
`accept4`.

### The mechanism, from the source

Versions: uvicorn 0.54.0, httptools 0.9.0, uvloop 0.23.0 (uv.lock), which bundles libuv
1.52.1 (`uv_version_string()` of the installed `uvloop/loop*.so`); CPython 3.11.7; Linux 6.18;
wrk 4.1.0 (Debian).

1. **One turn of uvloop's loop.** libuv's `uv_run` (src/unix/core.c:427) runs, in order:
   pending callbacks, *idle* handles (core.c:451), prepare handles, `uv__io_poll`
   (core.c:460), check handles (core.c:474), timers. uvloop runs every `call_soon` callback
   from one idle handle: `_call_soon_handle` (uvloop/loop.pyx:669) appends to `_ready` and
   starts it, `_on_idle` (loop.pyx:442) runs the callbacks that were ready when it began,
   in order. While the idle handle is active, the poll does not block
   (`uv__backend_timeout`, core.c:401). So a turn is: run every task step that is ready,
   then poll.
2. **The poll.** `uv__io_poll` (src/unix/linux.c:1347) makes one `epoll_pwait` of up to 1024
   events (linux.c:1349, 1451) and runs each ready descriptor's callback inline
   (linux.c:1546); it polls again in the same turn only when all 1024 slots were filled
   (linux.c:1574). With 100 connections every ready connection is handled in the turn's one
   poll: `uv__read` (src/unix/stream.c:1024) reads once (stream.c:1154), uvloop hands the
   bytes to the protocol (`__uv_stream_on_read_impl`, uvloop/handles/stream.pyx:820), and
   uvicorn's `HttpToolsProtocol.data_received` (uvicorn/protocols/http/httptools_impl.py:170)
   parses them and creates the request's task (`_start_asgi_task`, httptools_impl.py:293
   and 299-311), whose first step is a `call_soon`: it runs in the *next* turn's idle phase.
   The handler's `send` writes at once (`transport.write`, httptools_impl.py:524 and 551;
   uvloop tries the write immediately, stream.pyx:427).
3. **Accepting.** The listening socket is one of those descriptors. Since libuv 1.45.0
   (commit 6c692ad1c, "unix: don't accept() connections in a loop"), `uv__server_io`
   (stream.c:507) accepts **one** connection per readiness, relying on level-triggered
   epoll to report the socket again at the next poll; uvloop's `_on_listen`
   (uvloop/handles/streamserver.pyx:66) takes it. So uvloop accepts one connection per turn,
   and under saturation a turn lasts as long as all the handlers of the connections read
   in the last poll (tens of them, 200 us or more each). Connections that arrive together
   (wrk opens all of its connections at once; nginx opens upstream connections when its
   clients need them, and closes those beyond `keepalive` idle ones) wait in the kernel's
   accept queue: the k-th one about k turns, seconds in all, while the loop never stalls.
   Python's loop accepts up to `backlog` connections per readiness
   (`_accept_connection`, asyncio/selector_events.py:154, the loop at :163; uvicorn passes
   a backlog of 2048): all of them at once (46 ms above, against 4.3 s).
4. **Serving the connections already accepted.** In uvloop's turn the poll comes right
   after the handlers. A connection answered early in the idle phase has its next request
   back before the poll and is read in this turn; one answered among the last handlers is
   not back yet (the client on the other core needs a moment to answer) and waits a whole
   extra turn. Linux makes that stick (fs/eventpoll.c, as read in its source, not checked
   line by line against 6.18): a level-triggered descriptor that `epoll_wait` reported
   goes back on the tail of the ready list in the order reported (`ep_send_events`) and
   keeps its place while it stays there; a descriptor that was not readable at the last
   scan left the list, and when its request arrives it is appended after all of them
   (`ep_poll_callback`). So a connection that missed one poll is read
   last in the next, its handler runs last, its answer leaves just before the following
   poll, and it misses again: some connections settle into being served every other turn
   (31 requests against a median of 43 above, and 39 against 60 in the first table, while
   asyncio's are within one of each other). Python's loop has no such split:
   `BaseEventLoop._run_once` (asyncio/base_events.py:1845) polls first (:1884), appends
   each ready descriptor's read callback *after* the task steps already queued
   (`_process_events`, selector_events.py:733), then runs everything queued, first in
   first out (base_events.py:1905). The handlers run first, then the reads, then the next
   poll: every connection has the whole read phase to send its next request, and each
   request waits exactly one turn, whatever its place.
5. **wrk multiplies the starved samples.** wrk 4.1.0 corrects for coordinated omission:
   after the run it takes the interval between a connection's requests (src/wrk.c:169) and,
   for each latency L above twice that, adds samples at L minus one interval, minus two,
   and so on (`stats_correct`, src/stats.c:33). A first request that waited 4 s at an
   interval of 100 ms becomes about 40 samples: that is why wrk's p99 is many times the
   per-connection client's in the same configuration. (At its default timeout of 2 s a
   longer wait is not in wrk's histogram at all, only counted as a timeout: the runs here
   use 60 s.)

An earlier conclusion of this report, "the closed loop's p99 at saturation is mostly wrk's
own", named the wrong cause: wrk's correction does magnify the tail, but the samples it
magnifies are real waits in the server. The second client of the tail section applies no
such correction, so its p99 held only the waits themselves, of a few connections.

### Candidate fixes

- **Python's asyncio loop** (`--loop asyncio`): both causes go (it accepts all waiting
  connections at once, and every connection waits one turn per request), and its
  throughput was not lower than uvloop's in any plain row above; with no work in the
  handler at all (`.venv/bin/python bench/loop_starvation.py --work-us 0 --variants plain
  --client wrk`, loaded machine) 2,564 against uvloop's 2,585 req/s, p99 100 against
  565 ms. On a quiet machine uvloop's own speed may show more with so little work per
  request: to be measured there. coach now serves on asyncio's loop by default
  (`COACH_LOOP`, docs/API.md).
- **A yield point at the start of the handler** (`await asyncio.sleep(0)`): the handlers'
  first steps of the requests just read now run after the work of the previous batch, which
  gives every connection time to send its next request before the poll, and the
  per-connection counts even out (83 to 84 requests per connection, against 31 to 44);
  turns are shorter, so accepts went twice as fast, but still one per turn (2.3 s). This
  is why an app with several awaits per request (the plain FastAPI app) shows less of it.
- **h11** changes nothing of the above (same loop, a task per request).
- **uvicorn's `--limit-concurrency`** answers 503 beyond the limit and does not change the
  order in which the loop serves connections; not measured.
- **Longer-lived upstream connections** (nginx `keepalive` at least the concurrency) avoid
  new connections at steady state, but not at start or after `keepalive_requests`
  (1,000 by default) or `keepalive_timeout`; through nginx the tail stayed with either
  value under uvloop.

On a quiet machine, `bench/loop_starvation.py` (and `--via nginx`, `--probe`) prints the
same tables for the lead to re-run; the figures above are from a loaded machine.
"""

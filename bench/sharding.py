"""A simulation of the sharded design of docs/SCALING.md: does the routing rule send each user
to the replica that holds their workouts?

    .venv/bin/python bench/sharding.py [--users 1000000] [--broker-sample 2000]

The rule: a user's workouts are in partition `(murmur2(utf8(user_id)) & 0x7fffffff) % P` of
the workouts topic (Kafka's default partitioner for a keyed record: the producer keys each
workout by its user id), and the routing table gives the replica that consumes that
partition. This script implements murmur2 itself (as an edge that routes requests would)
and checks it:
- against aiokafka's `DefaultPartitioner` (the Java client's algorithm) for every user id
  1..USERS;
- against the real broker: keyed records produced with aiokafka's default partitioner to a
  topic of P partitions, and the partition the broker stored each one in;
- and it reports how evenly users spread over the replicas for a few (P, replicas) pairs,
  with the table "partition p -> replica p mod R".
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.partitioner import DefaultPartitioner

from bench.common import bootstrap, machine, machine_info, save_result

M = 0x5BD1E995
SEED = 0x9747B28C
MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), as a signed 32-bit int."""
    length = len(data)
    h = (SEED ^ length) & MASK
    end = length - length % 4
    for i in range(0, end, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * M) & MASK
        k ^= k >> 24
        k = (k * M) & MASK
        h = (h * M) & MASK
        h ^= k
    rest = length % 4
    if rest == 3:
        h ^= data[end + 2] << 16
    if rest >= 2:
        h ^= data[end + 1] << 8
    if rest >= 1:
        h ^= data[end]
        h = (h * M) & MASK
    h ^= h >> 13
    h = (h * M) & MASK
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def partition_of(user_id: str, partitions: int) -> int:
    """The workouts partition of a user: Kafka's default partitioner for the key."""
    return (murmur2(user_id.encode()) & 0x7FFFFFFF) % partitions


def replica_of(partition: int, replicas: int) -> int:
    """The routing table: partition p is consumed by replica p mod R."""
    return partition % replicas


async def broker_check(partitions: int, sample: list[str]) -> int:
    """Produce one keyed record per user id with aiokafka's default partitioner to a topic of
    `partitions` partitions; how many landed where `partition_of` says."""
    servers = bootstrap()
    topic = f"bench.{uuid.uuid4().hex[:8]}.sharding"
    admin = AIOKafkaAdminClient(bootstrap_servers=servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
        producer = AIOKafkaProducer(bootstrap_servers=servers, linger_ms=5)
        await producer.start()
        try:
            futures = [await producer.send(topic, b"x", key=u.encode()) for u in sample]
            stored = [(await f).partition for f in futures]
        finally:
            await producer.stop()
        return sum(s == partition_of(u, partitions) for u, s in zip(sample, stored, strict=True))
    finally:
        await admin.delete_topics([topic])
        await admin.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--broker-sample", type=int, default=2_000)
    args = parser.parse_args()
    info = machine_info()
    print(f"sharding simulation on {machine()}")
    users = [str(i) for i in range(1, args.users + 1)]
    started = time.perf_counter()
    ours = [partition_of(u, args.partitions) for u in users]
    seconds = time.perf_counter() - started
    theirs = DefaultPartitioner()
    all_partitions = list(range(args.partitions))
    agree = sum(
        o == theirs(u.encode(), all_partitions, all_partitions)
        for u, o in zip(users, ours, strict=True)
    )
    print(
        f"{args.users:,} user ids: murmur2 routing in {seconds:.1f} s; agrees with aiokafka's "
        f"DefaultPartitioner for {agree:,}"
    )
    step = max(1, args.users // args.broker_sample)
    sample = users[::step][: args.broker_sample]
    on_broker = asyncio.run(broker_check(args.partitions, sample))
    print(f"broker: {on_broker:,} of {len(sample):,} keyed records stored where the rule says")
    spread = []
    for partitions, replicas in ((12, 3), (12, 4), (24, 6), (48, 8), (48, 16)):
        counts = Counter(replica_of(partition_of(u, partitions), replicas) for u in users)
        shares = [counts[r] / len(users) for r in range(replicas)]
        spread.append(
            {
                "partitions": partitions,
                "replicas": replicas,
                "min_share": min(shares),
                "max_share": max(shares),
            }
        )
        print(
            f"P={partitions:3} R={replicas:2}: users per replica {min(shares):.2%} .. "
            f"{max(shares):.2%} (even: {1 / replicas:.2%})"
        )
    save_result(
        "sharding",
        {
            "users": args.users,
            "partitions": args.partitions,
            "agree_aiokafka": agree,
            "broker_sample": len(sample),
            "agree_broker": on_broker,
            "spread": spread,
            "murmur2_seconds": seconds,
        },
        info=info,
    )
    ok = agree == args.users and on_broker == len(sample)
    if not ok:
        print("the routing rule disagrees with Kafka's partitioner", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

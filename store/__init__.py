"""The SQLite projection (read model): its schema (migrations/), connections, writes, reads,
the fold, erasure, dead letters, checks and files.

The consumer (or its writer process) is the only writer of the rows the events produce; the
api only reads; the operator's tools read, and `coach dead-letters retry|resolve` writes
dead letters, with the consumer's own code. Nothing here knows Kafka or HTTP.
"""

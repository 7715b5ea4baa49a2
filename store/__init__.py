"""The SQLite projection (read model): schema, connections, writes and reads.

The consumer is the only writer; the api and the tools only read. Nothing here knows Kafka
or HTTP.
"""

"""The consumer: reads both topics, applies each record to the projection, stores offsets."""

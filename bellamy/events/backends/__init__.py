"""Event-bus backends: in-process (embedded default) and Kafka (production)."""

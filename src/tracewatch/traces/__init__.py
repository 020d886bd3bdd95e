"""Production traces: the canonical schema, readers and the demo trace generator."""

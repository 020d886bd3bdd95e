"""Trace importers: OpenTelemetry spans (GenAI, OpenInference, OpenLLMetry) and Langfuse, Opik and Phoenix exports,
turned into canonical trace files that ingest reads like any other."""

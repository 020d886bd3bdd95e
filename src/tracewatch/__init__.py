"""tracewatch: scheduled batch evaluation, drift detection and Parquet reports for LLM applications."""

__version__ = "0.1.0"

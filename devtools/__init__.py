"""Local stand-ins for production services (an S3-compatible server), started and stopped by tracewatch."""

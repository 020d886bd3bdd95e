"""One exception hierarchy, so callers can tell a bad setting from bad data from a broken outside system."""


class TracewatchError(Exception):
    """Base class of every error tracewatch raises on purpose."""


class ConfigError(TracewatchError):
    """A setting or parameter is wrong; the message names it and what is allowed. The run stops."""


class StoreError(TracewatchError):
    """The object store cannot be reached or refused us (endpoint, bucket, credentials)."""


class DataContractError(TracewatchError):
    """Input data breaks the contract in a way that cannot be quarantined row by row."""


class ServiceError(TracewatchError):
    """A local service (S3 server, model server) could not be started or stopped."""

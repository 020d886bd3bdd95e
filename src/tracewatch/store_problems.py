"""Why a store cannot be used, in one line that names the setting to fix: a missing folder or bucket, missing
or refused credentials, an endpoint that does not answer. Never a secret's value, never a traceback's worth of
botocore: the run stops on a configuration mistake with what to change, and nothing else.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from types import UnionType

from tracewatch.errors import ConfigError, StoreError


class StoreSettingError(ConfigError, StoreError):
    """The store cannot be used because of a setting: a missing folder or bucket, missing or refused
    credentials. A `ConfigError`, so the run stops at once with no retry, and a `StoreError`, so a caller that
    adds where a store's settings came from (an import source) still catches it."""


@dataclass(frozen=True)
class Hints:
    """How a store and the settings behind it are named in its error messages."""

    subject: str
    """the store, as the user set it (`TRACEWATCH_STORE='s3://bucket/prefix'`)"""
    credentials: str
    """the settings that provide its credentials"""
    endpoint: str
    """the setting that provides its endpoint"""
    location: str
    """the setting that names it"""


def store_hints(subject: str) -> Hints:
    """The settings of TRACEWATCH_STORE's store (tracewatch.settings.Settings reads these variables)."""
    return Hints(
        subject,
        credentials="AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or TRACEWATCH_AWS_ACCESS_KEY_ID and "
        "TRACEWATCH_AWS_SECRET_ACCESS_KEY), or AWS_PROFILE for a profile in ~/.aws/credentials",
        endpoint="TRACEWATCH_S3_ENDPOINT_URL",
        location="TRACEWATCH_STORE",
    )


def source_hints(subject: str) -> Hints:
    """A read-only source's: its caller names the variables it took them from (an import source's own)."""
    return Hints(subject, credentials="the credentials", endpoint="the endpoint", location="the location")


_REFUSED = {
    "InvalidAccessKeyId": "the access key id is unknown",
    "SignatureDoesNotMatch": "the secret access key does not match the key id",
    "InvalidClientTokenId": "the access key id is unknown",
    "ExpiredToken": "the session token has expired",
    "InvalidToken": "the session token is not valid",
}
"""S3's error codes for credentials it does not accept, and what each means."""


def s3_problem(exc: Exception, hints: Hints, bucket: str, endpoint_url: str | None) -> StoreError:
    """The one-line error for a failed listing of a bucket: no credentials, refused credentials, access denied,
    no such bucket (each a setting to fix), or an endpoint that does not answer. Never a secret's value."""
    from botocore import exceptions as boto  # loaded with s3fs already; not at import, to keep the CLI fast

    endpoint = endpoint_url or "the AWS default endpoint"
    if isinstance(exc, boto.ProfileNotFound):
        return StoreSettingError(f"no S3 credentials for {hints.subject}: {exc}; set {hints.credentials}")
    if isinstance(exc, boto.NoCredentialsError | boto.CredentialRetrievalError):
        return StoreSettingError(f"no S3 credentials for {hints.subject}: set {hints.credentials}")
    if isinstance(exc, FileNotFoundError):
        return StoreSettingError(
            f"bucket {bucket!r} of {hints.subject} does not exist at {endpoint}; create it or fix "
            f"{hints.location} (or {hints.endpoint})"
        )
    code = _error_code(exc)
    if code in _REFUSED:
        return StoreSettingError(
            f"the S3 server at {endpoint} refused the credentials for {hints.subject} ({code}: "
            f"{_REFUSED[code]}); fix {hints.credentials}"
        )
    if isinstance(exc, PermissionError):
        return StoreSettingError(
            f"the credentials may not list {hints.subject} at {endpoint} ({code or 'access denied'}); grant them "
            f"s3:ListBucket on bucket {bucket!r} or set other ones: {hints.credentials}"
        )
    unreachable = _connection_problem(exc, boto.EndpointConnectionError | boto.ConnectTimeoutError)
    if unreachable:
        return StoreError(
            f"cannot reach the S3 endpoint {endpoint} for {hints.subject} ({unreachable}); check "
            f"{hints.endpoint} and that the server is running"
        )
    return StoreError(f"cannot list {hints.subject} at {endpoint}: {_first_line(exc)}")


def _error_code(exc: BaseException) -> str | None:
    """S3's error code (`AccessDenied`, ...) of the botocore ClientError that s3fs translated into `exc`."""
    response = getattr(exc.__cause__, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None


def _connection_problem(exc: BaseException, connection_errors: type | UnionType) -> str | None:
    """Why a connection failed, in a few words, from the first known cause in the exception's chain (None when
    the chain holds no connection failure)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, socket.gaierror):
            return "host name not found"
        if isinstance(seen, TimeoutError):
            return "timed out"
        seen = seen.__cause__ or seen.__context__
    return _first_line(exc) if isinstance(exc, connection_errors) else None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__

"""The one-line messages for a store that cannot be used, for the failures the local S3 server cannot stage
(access denied by a policy, a profile that does not exist, an unknown error); the rest are checked against the
real server in tests/integration/test_store_check.py. S3's error codes:
https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ProfileNotFound

from tracewatch.errors import ConfigError, StoreError
from tracewatch.store_problems import s3_problem, store_hints

HINTS = store_hints("TRACEWATCH_STORE='s3://bucket/prefix'")
ENDPOINT = "http://127.0.0.1:9000"


def translated(code: str) -> PermissionError:
    """A ClientError as s3fs hands it on: translated to PermissionError, the ClientError as its cause."""
    error = PermissionError(code)
    error.__cause__ = ClientError({"Error": {"Code": code, "Message": code}}, "ListObjectsV2")
    return error


def test_access_denied_names_the_permission_and_the_credentials_settings() -> None:
    problem = s3_problem(translated("AccessDenied"), HINTS, "bucket", ENDPOINT)
    assert isinstance(problem, ConfigError) and "\n" not in str(problem)
    assert str(problem).startswith(
        f"the credentials may not list TRACEWATCH_STORE='s3://bucket/prefix' at {ENDPOINT} (AccessDenied); "
        "grant them s3:ListBucket on bucket 'bucket' or set other ones: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    )


def test_refused_credentials_say_which_half_is_wrong() -> None:
    unknown = s3_problem(translated("InvalidAccessKeyId"), HINTS, "bucket", None)
    assert "the AWS default endpoint refused the credentials" in str(unknown)
    assert "(InvalidAccessKeyId: the access key id is unknown); fix AWS_ACCESS_KEY_ID" in str(unknown)


def test_a_missing_profile_is_missing_credentials() -> None:
    problem = s3_problem(ProfileNotFound(profile="nightly"), HINTS, "bucket", ENDPOINT)
    assert isinstance(problem, ConfigError)
    assert str(problem).startswith(
        "no S3 credentials for TRACEWATCH_STORE='s3://bucket/prefix': The config profile (nightly) could not be "
        "found; set AWS_ACCESS_KEY_ID"
    )


def test_an_endpoint_that_does_not_answer_is_a_store_error_naming_the_endpoint_setting() -> None:
    refused = EndpointConnectionError(endpoint_url=f"{ENDPOINT}/bucket")
    refused.__context__ = ConnectionRefusedError(111, "Connect call failed")
    problem = s3_problem(refused, HINTS, "bucket", ENDPOINT)
    assert type(problem) is StoreError  # may heal: not a setting for certain
    assert str(problem) == (
        f"cannot reach the S3 endpoint {ENDPOINT} for TRACEWATCH_STORE='s3://bucket/prefix' (connection refused); "
        "check TRACEWATCH_S3_ENDPOINT_URL and that the server is running"
    )


@pytest.mark.parametrize("error", [RuntimeError("server said no\nand more"), ValueError()])
def test_anything_else_is_told_in_its_first_line(error: Exception) -> None:
    problem = s3_problem(error, HINTS, "bucket", ENDPOINT)
    assert type(problem) is StoreError and "\n" not in str(problem)
    assert str(problem).startswith(f"cannot list TRACEWATCH_STORE='s3://bucket/prefix' at {ENDPOINT}: ")
    assert str(problem).endswith(type(error).__name__ + (": server said no" if str(error) else ""))

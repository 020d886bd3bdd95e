"""The store check against the real local S3 server: each way a store cannot be used is told apart in one line
that names the settings to fix and no secret. botocore's credential chain:
https://boto3.amazonaws.com/v1/documentation/api/latest/guide/credentials.html; S3's error codes:
https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html"""

from __future__ import annotations

import socket
import uuid

import pytest
from pydantic import SecretStr

from devtools.s3server import S3Server
from tests.conftest import TEST_BUCKET
from tracewatch.errors import ConfigError, StoreError
from tracewatch.settings import Settings
from tracewatch.store import Store

CREDENTIAL_SETTINGS = (
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or TRACEWATCH_AWS_ACCESS_KEY_ID and "
    "TRACEWATCH_AWS_SECRET_ACCESS_KEY), or AWS_PROFILE for a profile in ~/.aws/credentials"
)


@pytest.fixture
def no_ambient_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing in the environment, no profile file, no instance metadata: botocore finds no credentials."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "TRACEWATCH_AWS_ACCESS_KEY_ID",
        "TRACEWATCH_AWS_SECRET_ACCESS_KEY",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def store(server: S3Server, bucket: str = TEST_BUCKET, **settings: object) -> Store:
    url = f"s3://{bucket}/t-{uuid.uuid4().hex[:12]}"
    return Store.from_settings(Settings(store=url, s3_endpoint_url=server.endpoint_url, **settings))  # type: ignore[arg-type]


def failure(store: Store) -> Exception:
    with pytest.raises(StoreError) as raised:
        store.check()
    assert "\n" not in str(raised.value)
    return raised.value


def test_no_credentials_name_the_settings_that_provide_them(
    s3_server: S3Server, no_ambient_credentials: None
) -> None:
    bare = store(s3_server)
    error = failure(bare)
    assert isinstance(error, ConfigError)
    assert str(error) == f"no S3 credentials for TRACEWATCH_STORE={bare.url!r}: {CREDENTIAL_SETTINGS}"


def test_half_the_credentials_is_an_error_before_any_request(
    s3_server: S3Server, no_ambient_credentials: None
) -> None:
    half = store(s3_server, aws_access_key_id=SecretStr(s3_server.access_key_id))
    error = failure(half)
    assert isinstance(error, ConfigError)
    assert str(error).startswith(
        f"half the S3 credentials for TRACEWATCH_STORE={half.url!r}: the secret access key is not set; set both"
    )
    assert s3_server.access_key_id not in str(error)


@pytest.mark.parametrize(
    ("key_id", "secret", "refusal"),
    [
        (None, "not-the-secret", "SignatureDoesNotMatch: the secret access key does not match the key id"),
        ("AKIAUNKNOWN", "not-the-secret", "InvalidAccessKeyId: the access key id is unknown"),
    ],
)
def test_wrong_credentials_say_what_was_refused_and_never_a_secret(
    s3_server: S3Server, key_id: str | None, secret: str, refusal: str
) -> None:
    wrong = store(
        s3_server,
        aws_access_key_id=SecretStr(key_id or s3_server.access_key_id),
        aws_secret_access_key=SecretStr(secret),
    )
    error = failure(wrong)
    assert isinstance(error, ConfigError)
    assert str(error) == (
        f"the S3 server at {s3_server.endpoint_url} refused the credentials for TRACEWATCH_STORE={wrong.url!r} "
        f"({refusal}); fix {CREDENTIAL_SETTINGS.removeprefix('set ')}"
    )
    assert secret not in str(error) and s3_server.secret_access_key not in str(error)


def test_a_missing_bucket_names_the_store_and_endpoint_settings(s3_server: S3Server) -> None:
    missing = store(
        s3_server,
        bucket="no-such-bucket",
        aws_access_key_id=SecretStr(s3_server.access_key_id),
        aws_secret_access_key=SecretStr(s3_server.secret_access_key),
    )
    error = failure(missing)
    assert isinstance(error, ConfigError)
    assert str(error) == (
        f"bucket 'no-such-bucket' of TRACEWATCH_STORE={missing.url!r} does not exist at {s3_server.endpoint_url}; "
        "create it or fix TRACEWATCH_STORE (or TRACEWATCH_S3_ENDPOINT_URL)"
    )


def test_an_endpoint_that_does_not_answer_is_not_blamed_on_the_credentials(s3_server: S3Server) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    closed = Store.from_settings(
        Settings(
            store=f"s3://{TEST_BUCKET}/x",
            s3_endpoint_url=endpoint,
            aws_access_key_id=SecretStr(s3_server.access_key_id),
            aws_secret_access_key=SecretStr(s3_server.secret_access_key),
        )
    )
    error = failure(closed)
    assert not isinstance(error, ConfigError)  # it may come back: a store problem, not a setting for certain
    assert str(error) == (
        f"cannot reach the S3 endpoint {endpoint} for TRACEWATCH_STORE='s3://{TEST_BUCKET}/x' (connection refused); "
        "check TRACEWATCH_S3_ENDPOINT_URL and that the server is running"
    )


def test_good_credentials_pass(s3_store: Store) -> None:
    s3_store.check()
    s3_store.check_readable()

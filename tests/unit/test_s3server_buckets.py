"""The local S3 server refuses a bucket name S3 would refuse before anything starts: otherwise the server
answers each attempt to create the bucket with an error until the start times out, a minute later."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools import s3server
from tracewatch.errors import ConfigError


@pytest.mark.parametrize("bad", ["Bad_Bucket", "ab", "-leading", "trailing.", "two..dots", "x" * 64])
def test_an_invalid_bucket_name_is_refused_before_a_server_starts(
    bad: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[object] = []
    monkeypatch.setattr(s3server, "start_logging_process", lambda *a, **k: started.append(a))
    with pytest.raises(ConfigError, match="not valid S3 bucket names"):
        s3server.start_s3_server(tmp_path / "weed", buckets=("tracewatch", bad))
    assert started == []


@pytest.mark.parametrize("good", ["tracewatch", "tracewatch-test", "a.b-c", "abc", "x" * 63])
def test_valid_bucket_names_pass_the_check(good: str) -> None:
    s3server._check_bucket_names((good,))

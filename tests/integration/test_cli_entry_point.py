"""The installed `tracewatch` command as a newcomer meets it (issue 20): every command names the store it reads
on its first line, an empty store says so, a store it cannot use ends in one line with exit status 2 (item 3,
7), tables have header rows (item 17), and an unknown dataset's message reaches the terminal whole, on one line
(item 12)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from devtools.s3server import S3Server
from tests.conftest import TEST_BUCKET
from tests.support.entry_point import tracewatch


def new_store(tmp_path: Path) -> str:
    """The URL of a new, empty store folder (a store named in TRACEWATCH_STORE must exist)."""
    folder = tmp_path / "store"
    folder.mkdir()
    return f"file://{folder}"


@pytest.mark.parametrize(("command", "what"), [("datasets", "datasets"), ("experiments", "experiments")])
def test_an_empty_store_says_so(command: str, what: str, tmp_path: Path) -> None:
    store = new_store(tmp_path)
    run = tracewatch(command, cwd=tmp_path, TRACEWATCH_STORE=store)
    assert (run.status, run.out) == (0, [])
    assert run.err == [f"store: {store}", f"no {what} in {store}"]


@pytest.mark.parametrize("setting", [None, ""])
def test_the_default_store_is_named_as_the_default(setting: str | None, tmp_path: Path) -> None:
    """Unset or empty, TRACEWATCH_STORE means .tracewatch/store under the working directory: a command that
    only reads finds it empty (and creates nothing), the first that writes creates it."""
    settings = {} if setting is None else {"TRACEWATCH_STORE": setting}
    default = f"file://{tmp_path}/.tracewatch/store"
    announced = f"store: {default} (the default; set TRACEWATCH_STORE to use another)"
    run = tracewatch("datasets", cwd=tmp_path, **settings)
    assert (run.status, run.out, run.err) == (0, [], [announced, f"no datasets in {default}"])
    assert not (tmp_path / ".tracewatch").exists()
    seed = tmp_path / "seed.csv"
    seed.write_text("input\nWhat is the capital of France?\n")
    run = tracewatch("seed", "faq", str(seed), cwd=tmp_path, **settings)
    assert (run.status, run.err) == (0, [announced])
    assert (tmp_path / ".tracewatch" / "store").is_dir()


def test_a_store_folder_that_does_not_exist_is_one_line_and_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "typo"
    for command in ("datasets", "seed"):
        run = tracewatch(
            command,
            *(["x", "seed.csv"] if command == "seed" else []),
            cwd=tmp_path,
            TRACEWATCH_STORE=f"file://{missing}",
        )
        assert run.status == 2 and run.out == [] and len(run.err) == 2
        assert run.err[1].startswith("tracewatch: TRACEWATCH_STORE=") and "does not exist" in run.err[1]
    assert not missing.exists()


def test_datasets_are_listed_under_a_header(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    seed = tmp_path / "seed.csv"
    seed.write_text("input\nWhat is the capital of France?\nWho wrote Hamlet?\n")
    assert tracewatch("seed", "faq", str(seed), cwd=tmp_path, TRACEWATCH_STORE=store).status == 0
    run = tracewatch("datasets", cwd=tmp_path, TRACEWATCH_STORE=store)
    assert run.status == 0 and run.err == [f"store: {store}"]
    assert run.out[0].split() == ["DATASET", "VERSION", "KIND", "ITEMS", "ADDED", "CREATED"]
    assert run.out[1].split()[:5] == ["faq", "1", "seed", "2", "2"]
    assert len(run.out) == 2


def test_an_unknown_dataset_is_one_line_naming_those_there(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    seed = tmp_path / "seed.csv"
    seed.write_text("input\nWhat is the capital of France?\n")
    assert tracewatch("seed", "faq", str(seed), cwd=tmp_path, TRACEWATCH_STORE=store).status == 0
    run = tracewatch("export-review", "nope", cwd=tmp_path, TRACEWATCH_STORE=store)
    assert run.status == 2 and run.out == []
    assert len(run.err) == 2 and run.err[0] == f"store: {store}"
    assert run.err[1].startswith("tracewatch: ") and "'nope'" in run.err[1] and "faq" in run.err[1]


def test_an_unsupported_store_url_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    run = tracewatch("datasets", cwd=tmp_path, TRACEWATCH_STORE="ftp://example/store")
    assert run.status == 2
    assert len(run.err) == 1 and run.err[0].startswith("tracewatch: TRACEWATCH_STORE='ftp://example/store'")


def s3_store(server: S3Server) -> dict[str, str]:
    """A fresh prefix of the test bucket, reached through the server's endpoint, with no credentials at all."""
    return {
        "TRACEWATCH_STORE": f"s3://{TEST_BUCKET}/cli-{uuid.uuid4().hex[:8]}",
        "TRACEWATCH_S3_ENDPOINT_URL": server.endpoint_url,
    }


@pytest.mark.parametrize("command", ["datasets", "experiments", "seed"])
def test_missing_credentials_are_one_line_naming_them(
    command: str, tmp_path: Path, s3_server: S3Server
) -> None:
    settings = s3_store(s3_server)
    args = [command, "faq", str(tmp_path / "seed.csv")] if command == "seed" else [command]
    run = tracewatch(*args, cwd=tmp_path, **settings)
    assert run.status == 2 and run.out == []
    assert run.err[0] == f"store: {settings['TRACEWATCH_STORE']} at {s3_server.endpoint_url}"
    assert len(run.err) == 2, run.err
    assert run.err[1].startswith("tracewatch: no S3 credentials") and "AWS_ACCESS_KEY_ID" in run.err[1]


def test_verbose_shows_the_traceback_and_the_same_last_line(tmp_path: Path, s3_server: S3Server) -> None:
    settings = s3_store(s3_server)
    quiet = tracewatch("datasets", cwd=tmp_path, **settings)
    verbose = tracewatch("datasets", "-v", cwd=tmp_path, **settings)
    assert verbose.status == 2
    assert "Traceback (most recent call last):" in verbose.err
    assert verbose.err[-1] == quiet.err[-1]


def test_refused_credentials_are_one_line_and_never_printed(tmp_path: Path, s3_server: S3Server) -> None:
    settings = s3_store(s3_server) | {"AWS_ACCESS_KEY_ID": s3_server.access_key_id}
    settings["AWS_SECRET_ACCESS_KEY"] = "not-the-secret"
    run = tracewatch("datasets", cwd=tmp_path, **settings)
    assert run.status == 2 and len(run.err) == 2
    assert "AWS_SECRET_ACCESS_KEY" in run.err[1]
    assert "not-the-secret" not in "\n".join(run.err) and s3_server.access_key_id not in "\n".join(run.err)


def test_a_usable_s3_store_is_read(tmp_path: Path, s3_server: S3Server) -> None:
    settings = s3_store(s3_server) | {
        "AWS_ACCESS_KEY_ID": s3_server.access_key_id,
        "AWS_SECRET_ACCESS_KEY": s3_server.secret_access_key,
    }
    run = tracewatch("experiments", cwd=tmp_path, **settings)
    assert run.status == 0
    assert run.err[1] == f"no experiments in {settings['TRACEWATCH_STORE']}"

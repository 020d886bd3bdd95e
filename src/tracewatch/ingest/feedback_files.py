"""Late feedback files (`feedback/date=D/*.parquet`): read one into the feedback schema and check its rows.

Feedback that arrives after its trace comes from other systems (the app's feedback endpoint, an annotation
tool, a Langfuse export) in files of its own. Like a trace file, each file is either rejected whole (unreadable,
a column missing) or read row by row against its own expectation suite (`data/expectations/feedback.json`);
rejected rows and files go to `warehouse/quarantine/feedback/date=D/` with their reasons.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from dataclasses import dataclass
from pathlib import PurePosixPath

import polars as pl

from tracewatch.paths import shipped_data
from tracewatch.store import Store
from tracewatch.validation import Suite, failing_rows, load_suite

FEEDBACK_PREFIX = "feedback"
FEEDBACK_QUARANTINE_PREFIX = "warehouse/quarantine/feedback"
FEEDBACK_SUITE = "expectations/feedback.json"

FEEDBACK_EVENT_SCHEMA: dict[str, pl.DataType] = {
    "trace_id": pl.String(),
    "name": pl.String(),
    "value": pl.Float64(),
    "source": pl.String(),
    "created_at": pl.Datetime("us", "UTC"),
}
"""One feedback event: documented in docs/trace-schema.md ("Late feedback")."""

QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.String(),
    "quarantined_at": pl.Datetime("us", "UTC"),
    "date": pl.Date(),
    "source_key": pl.String(),
    "source_version": pl.String(),
    "scope": pl.String(),  # row | file
    "row_nr": pl.Int64(),
    "file_rows": pl.Int64(),
    "reasons": pl.List(pl.String()),
    **{
        name: pl.String() for name in FEEDBACK_EVENT_SCHEMA
    },  # as written, so a value of the wrong type survives
}


def load_feedback_suite() -> Suite:
    """The shipped feedback suite."""
    return load_suite(shipped_data(FEEDBACK_SUITE))


@dataclass(frozen=True)
class CheckedFeedback:
    """The outcome of one feedback file: the accepted events and the quarantine records."""

    key: str
    rows: int | None
    accepted: pl.DataFrame
    quarantined: pl.DataFrame
    reason: str | None = None
    """Why the whole file was rejected; None when it was read."""


def check_feedback_file(
    store: Store, key: str, version: str, day: dt.date, suite: Suite, *, run_id: str, at: dt.datetime
) -> CheckedFeedback:
    """Read `key` and split its rows into accepted events and quarantine records with reasons."""
    meta = {"run_id": run_id, "at": at, "day": day, "key": key, "version": version}
    try:
        raw = pl.read_parquet(io.BytesIO(store.read_bytes(key)))
    except Exception as exc:  # corrupt input raises several types; all mean "unreadable"
        reason = f"unreadable Parquet file: {str(exc).splitlines()[0][:200]}"
        return _rejected(key, None, reason, meta)
    missing = [c for c in FEEDBACK_EVENT_SCHEMA if c not in raw.columns]
    if missing:
        reason = f"missing column(s) {', '.join(missing)}; a feedback file needs {', '.join(FEEDBACK_EVENT_SCHEMA)}"
        return _rejected(key, raw.height, reason, meta)
    frame, problems = _conform(raw)
    checked = failing_rows(frame, suite, day=day).select(pl.col("row_nr").cast(pl.Int64), "reasons")
    reasons = (
        pl.concat([checked, problems])
        .explode("reasons")
        .group_by("row_nr")
        .agg(pl.col("reasons").drop_nulls())
        .sort("row_nr")
    )
    if reasons.is_empty():  # the usual case: no join at all
        return CheckedFeedback(key, raw.height, frame, pl.DataFrame(schema=QUARANTINE_SCHEMA))
    numbered = frame.with_row_index("row_nr").with_columns(pl.col("row_nr").cast(pl.Int64))
    accepted = numbered.join(reasons, on="row_nr", how="anti", maintain_order="left").drop("row_nr")
    shown = raw.select(list(FEEDBACK_EVENT_SCHEMA)).with_row_index("row_nr")
    rejected = shown.with_columns(pl.col("row_nr").cast(pl.Int64)).join(reasons, on="row_nr", how="inner")
    records = rejected.select(
        run_id=pl.lit(run_id),
        quarantined_at=pl.lit(at, pl.Datetime("us", "UTC")),
        date=pl.lit(day),
        source_key=pl.lit(key),
        source_version=pl.lit(version),
        scope=pl.lit("row"),
        row_nr=pl.col("row_nr"),
        file_rows=pl.lit(None, pl.Int64),
        reasons=pl.col("reasons"),
        **{name: pl.col(name).cast(pl.String) for name in FEEDBACK_EVENT_SCHEMA},
    )
    return CheckedFeedback(key, raw.height, accepted, records.cast(QUARANTINE_SCHEMA))  # type: ignore[arg-type]


def _conform(raw: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The columns in their canonical types, and a reason for each value that did not convert.

    A timestamp without a time zone is taken as UTC (what exporters write); a value of the wrong type (text
    in `value`, say) becomes null, and its row is rejected with the value it had."""
    columns, problems = [], []
    for name, dtype in FEEDBACK_EVENT_SCHEMA.items():
        column = raw.get_column(name)
        if isinstance(dtype, pl.Datetime) and isinstance(column.dtype, pl.Datetime):
            zoned = column.dt.replace_time_zone("UTC") if column.dtype.time_zone is None else column
            converted = zoned.dt.convert_time_zone("UTC").cast(dtype)
        else:
            converted = column.cast(dtype, strict=False)
        lost = column.is_not_null() & converted.is_null()
        if lost.any():
            bad = pl.DataFrame({"row_nr": pl.arange(0, raw.height, eager=True), "lost": lost, "was": column})
            problems.append(
                bad.filter("lost").select(
                    pl.col("row_nr").cast(pl.Int64),
                    reasons=pl.concat_list(
                        pl.concat_str(
                            pl.lit(f"{name}: "), pl.col("was").cast(pl.String), pl.lit(f" is not a {dtype}")
                        )
                    ),
                )
            )
        columns.append(converted.alias(name))
    empty = pl.DataFrame(schema={"row_nr": pl.Int64, "reasons": pl.List(pl.String)})
    return pl.DataFrame(columns), pl.concat([empty, *problems])


def _rejected(key: str, rows: int | None, reason: str, meta: dict[str, object]) -> CheckedFeedback:
    row = {name: None for name in QUARANTINE_SCHEMA} | {
        "run_id": meta["run_id"],
        "quarantined_at": meta["at"],
        "date": meta["day"],
        "source_key": key,
        "source_version": meta["version"],
        "scope": "file",
        "file_rows": rows,
        "reasons": [reason],
    }
    empty = pl.DataFrame(schema=FEEDBACK_EVENT_SCHEMA)
    return CheckedFeedback(key, rows, empty, pl.DataFrame([row], schema=QUARANTINE_SCHEMA), reason)


def feedback_quarantine_key(day: dt.date, source_key: str) -> str:
    """Where the rejected rows (or the rejection) of one feedback file of `day` are recorded."""
    digest = hashlib.sha256(source_key.encode()).hexdigest()[:10]
    name = f"{PurePosixPath(source_key).stem}-{digest}"
    return f"{FEEDBACK_QUARANTINE_PREFIX}/date={day.isoformat()}/{name}.parquet"


def write_feedback_quarantine(store: Store, day: dt.date, checked: CheckedFeedback, stale: set[str]) -> None:
    """Replace the file's quarantine record; a clean file leaves none: a rewritten file loses its old one
    (`stale`, the records that exist: a clean file costs no round trip when it had none)."""
    key = feedback_quarantine_key(day, checked.key)
    if checked.quarantined.height:
        store.write_parquet(key, checked.quarantined)
    elif key in stale:
        store.delete(key)


def feedback_quarantine_keys(store: Store) -> set[str]:
    """The keys of every feedback quarantine record (one listing)."""
    return {o.key for o in store.list_objects(FEEDBACK_QUARANTINE_PREFIX, ".parquet")}


def read_feedback_quarantine(store: Store, day: dt.date) -> pl.DataFrame:
    """Every feedback quarantine record of `day` (empty when there are none)."""
    keys = [
        o.key for o in store.list_objects(f"{FEEDBACK_QUARANTINE_PREFIX}/date={day.isoformat()}", ".parquet")
    ]
    if not keys:
        return pl.DataFrame(schema=QUARANTINE_SCHEMA)
    return store.scan_parquet(sorted(keys)).collect()

"""PII redaction, applied to trace content before anything is stored in a dataset.

Datasets outlive the traces they come from and are copied into experiments, caches and reports, so a value
that must not leave production is replaced here by a typed placeholder (`<EMAIL>`, `<PHONE>`, ...). Nothing
of the original is kept: no partial masking and no hash of the value, because a hash of a phone number or
card number is easy to reverse by enumeration.

Redaction is vectorised. One polars regex scan (the union of all rules, `datasets.pii_rules`) finds the rows
that could hold PII, which are few in real traffic; only those rows are rewritten. Rules that need no check are
polars `replace_all`s; rules that need one run Python's `re` and their check on the candidate rows. Columns whose
values repeat (system prompts, passages) are redacted once per distinct value. Redaction runs to a fixed
point, so redacting a redacted text changes nothing, and the counts per kind are exact: one per placeholder.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from tracewatch.datasets.distinct import map_distinct
from tracewatch.datasets.pii_rules import KINDS, RedactionConfig, Rule, rules_for
from tracewatch.errors import ConfigError

log = logging.getLogger(__name__)

JSON_COLUMNS: tuple[str, ...] = ("metadata",)
"""String columns holding JSON text: redacted value by value so the text stays valid JSON."""

_MAX_PASSES = 4
_CountArray = npt.NDArray[np.int64]
_Counts = dict[str, _CountArray]


# ---- public API --------------------------------------------------------------------------------------------


def redact_text(text: str, config: RedactionConfig | None = None) -> tuple[str, Counter[str]]:
    """Redact one value; returns the text and how many values of each kind were replaced.

    Runs the same vectorised code as `redact_frame`, so a value is redacted identically either way.
    """
    rules = rules_for(config or RedactionConfig())
    redacted, counts = _redact_strings(pl.Series([text], dtype=pl.String), rules)
    found = Counter({kind: int(n[0]) for kind, n in counts.items() if n[0]})
    return str(redacted[0]), found


def pii_found(texts: pl.Series, config: RedactionConfig | None = None) -> pl.Series:
    """How many PII values `redact_frame` would replace in each text (Int64, 0 for null): the redactor's own
    detection, for choices that depend on whether a trace holds personal data (the failure sampler's `pii`)."""
    _, counts = _redact_strings(texts.cast(pl.String), rules_for(config or RedactionConfig()))
    return pl.Series(texts.name, _total(counts, texts.len()), dtype=pl.Int64)


def redact_frame(
    frame: pl.DataFrame,
    columns: Sequence[str],
    config: RedactionConfig | None = None,
    *,
    json_columns: Iterable[str] = JSON_COLUMNS,
) -> tuple[pl.DataFrame, dict[str, int], pl.Series]:
    """Redact PII in `columns` of `frame`; other columns are returned untouched.

    Supported column types: String; String columns named in `json_columns` (JSON text, redacted value by
    value and re-serialised only where something changed); List(String); List(Struct) such as messages
    and retrieved context, whose String fields are all redacted. Returns the frame, the number of values
    replaced per enabled kind, and the number replaced per row (Int64 `redactions`).
    """
    rules = rules_for(config or RedactionConfig())
    json_names = set(json_columns)
    totals: dict[str, int] = {kind: 0 for kind in KINDS if kind in _kinds(rules)}
    per_row = np.zeros(frame.height, dtype=np.int64)
    replaced: list[pl.Series] = []
    for name in columns:
        if name not in frame.columns:
            raise ConfigError(f"cannot redact column {name!r}: not in the frame (columns: {frame.columns})")
        series, counts = _redact_column(frame[name], rules, as_json=name in json_names)
        replaced.append(series)
        for kind, n in counts.items():
            totals[kind] += int(n.sum())
            per_row += n
    if sum(totals.values()):
        log.info(
            "redacted %d PII value(s) in %d row(s): %s", sum(totals.values()), (per_row > 0).sum(), totals
        )
    out = frame.with_columns(replaced) if replaced else frame
    return out, totals, pl.Series("redactions", per_row, dtype=pl.Int64)


# ---- columns -----------------------------------------------------------------------------------------------


def _redact_column(series: pl.Series, rules: Sequence[Rule], *, as_json: bool) -> tuple[pl.Series, _Counts]:
    dtype = series.dtype
    if dtype == pl.String:
        return _redact_json(series, rules) if as_json else _redact_strings(series, rules)
    if isinstance(dtype, pl.List) and (
        dtype.inner == pl.String
        or (isinstance(dtype.inner, pl.Struct) and any(f.dtype == pl.String for f in dtype.inner.fields))
    ):
        return _redact_lists(series, rules)
    raise ConfigError(
        f"cannot redact column {series.name!r} of type {dtype}; supported: String, List(String), "
        "List(Struct) with String fields"
    )


def _redact_lists(series: pl.Series, rules: Sequence[Rule]) -> tuple[pl.Series, _Counts]:
    """Redact the strings inside a list column: redact the flat values, then map old to new values in place.

    Values are redacted as one flat column, so the cost is that of a String column of all elements; the
    list column is only rebuilt (one `list.eval`) when something was redacted.
    """
    counts = _zeros(rules, series.len())
    inner = series.dtype.inner if isinstance(series.dtype, pl.List) else None
    owner = np.repeat(np.arange(series.len()), series.list.len().fill_null(0).to_numpy())
    flat = series.explode(empty_as_null=False, keep_nulls=False)
    if isinstance(inner, pl.Struct):
        columns = {f.name: flat.struct.field(f.name) for f in inner.fields if f.dtype == pl.String}
    else:
        columns = {"": flat}
    replacements: dict[str, tuple[pl.Series, pl.Series]] = {}
    for name, values in columns.items():
        redacted, value_counts = _redact_strings(values, rules)
        changed = pl.Series(_total(value_counts, len(values)) > 0)
        if not changed.any():
            continue
        for kind, n in value_counts.items():
            counts[kind] += np.bincount(owner, weights=n, minlength=series.len()).astype(np.int64)
        mapping = pl.DataFrame({"old": values.filter(changed), "new": redacted.filter(changed)}).unique("old")
        replacements[name] = (mapping["old"], mapping["new"])
    if not replacements:
        return series, counts
    element = pl.element()
    if isinstance(inner, pl.Struct):
        expr = element.struct.with_fields(
            [
                element.struct.field(name).replace(old, new).alias(name)
                for name, (old, new) in replacements.items()
            ]
        )
    else:
        old, new = replacements[""]
        expr = element.replace(old, new)
    out = series.to_frame().select(pl.col(series.name).list.eval(expr)).to_series()
    return out, counts


def _redact_json(series: pl.Series, rules: Sequence[Rule]) -> tuple[pl.Series, _Counts]:
    return _deduplicated(series, rules, _redact_json_rows)


def _redact_json_rows(series: pl.Series, rules: Sequence[Rule]) -> tuple[pl.Series, _Counts]:
    """Redact JSON text value by value (keys too), so escapes cannot hide a value and the text stays JSON.

    Only rows where some rule could match, or with an escape, are decoded; rows that do not change keep
    their exact text. A row that is not valid JSON is redacted as plain text.
    """
    counts = _zeros(rules, series.len())
    candidates = series.str.contains(_union(tuple(rules))) | series.str.contains("\\", literal=True)
    rows = candidates.fill_null(False).arg_true()
    if rows.len() == 0:
        return series, counts
    documents = [_parse_json(text) for text in series.gather(rows).to_list()]
    leaves: list[str] = []
    owners: list[int] = []
    for position, document in enumerate(documents):
        found = list(_json_leaves(document))
        leaves.extend(found)
        owners.extend([position] * len(found))
    redacted, leaf_counts = _redact_strings(pl.Series(leaves, dtype=pl.String), rules)
    row_numbers = rows.to_numpy()
    changed = np.zeros(len(documents), dtype=np.int64)
    for kind, n in leaf_counts.items():
        per_document = np.bincount(owners, weights=n, minlength=len(documents)).astype(np.int64)
        counts[kind][row_numbers] += per_document
        changed += per_document
    if not changed.any():
        return series, counts
    new_leaves = iter(redacted.to_list())
    texts = [_json_rebuild(document, new_leaves) for document in documents]
    keep = np.flatnonzero(changed)
    out = series.clone().scatter(row_numbers[keep], pl.Series([texts[i] for i in keep], dtype=pl.String))
    return out, counts


class _PlainText(str):
    """A metadata value that is not valid JSON: redacted as one plain string."""


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return _PlainText(text)


def _json_leaves(value: Any) -> Iterator[str]:
    """Every string and integer in a decoded JSON document, keys included, in a fixed order."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, int) and not isinstance(value, bool):
        yield str(value)
    elif isinstance(value, list):
        for item in value:
            yield from _json_leaves(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _json_leaves(item)


def _json_rebuild(document: Any, leaves: Iterator[str]) -> str:
    if isinstance(document, _PlainText):
        return next(leaves)
    return json.dumps(_json_replace(document, leaves), ensure_ascii=False)


def _json_replace(value: Any, leaves: Iterator[str]) -> Any:
    """The document with its leaves taken from `leaves`, in `_json_leaves` order."""
    if isinstance(value, str):
        return next(leaves)
    if isinstance(value, int) and not isinstance(value, bool):
        new = next(leaves)
        return value if new == str(value) else new
    if isinstance(value, list):
        return [_json_replace(item, leaves) for item in value]
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for item in value.values():
            key = next(leaves)
            # Two keys redacted to the same placeholder must not overwrite each other.
            unique, n = key, 1
            while unique in out:
                n += 1
                unique = f"{key}_{n}"
            out[unique] = _json_replace(item, leaves)
        return out
    return value


# ---- strings -----------------------------------------------------------------------------------------------


def _redact_strings(series: pl.Series, rules: Sequence[Rule]) -> tuple[pl.Series, _Counts]:
    return _deduplicated(series, rules, _redact_rows)


def _deduplicated(
    series: pl.Series,
    rules: Sequence[Rule],
    redact: Callable[[pl.Series, Sequence[Rule]], tuple[pl.Series, _Counts]],
) -> tuple[pl.Series, _Counts]:
    """`redact`, once per distinct value when values repeat a lot (see `map_distinct`)."""
    if not rules or series.len() == 0:
        return series, _zeros(rules, series.len())

    def as_frame(values: pl.Series) -> pl.DataFrame:
        redacted, counts = redact(values, rules)
        return pl.DataFrame([redacted.alias("value"), *(pl.Series(kind, n) for kind, n in counts.items())])

    frame = map_distinct(series, as_frame)
    counts = {kind: frame[kind].fill_null(0).to_numpy().astype(np.int64) for kind in _kinds(rules)}
    return frame["value"].alias(series.name), counts


def _redact_rows(series: pl.Series, rules: Sequence[Rule]) -> tuple[pl.Series, _Counts]:
    """Apply `rules` to the rows where any of them could match, until nothing changes.

    One regex scan (the union of every rule's loose pattern) picks the candidate rows, so a column without
    PII costs one pass over it. Passes repeat on rows that changed: a replacement can, rarely, expose a new
    match next to it, and stopping at a fixed point is what makes redaction idempotent.
    """
    counts = _zeros(rules, series.len())
    candidates = series.str.contains(_union(tuple(rules))).fill_null(False)
    pending = candidates.arg_true().to_numpy().astype(np.int64)
    current = series.clone()
    for _ in range(_MAX_PASSES):
        if not len(pending):
            break
        part, pass_counts = _one_pass(current.gather(pending), rules)
        current = current.scatter(pending, part)
        for kind, n in pass_counts.items():
            counts[kind][pending] += n
        pending = pending[_total(pass_counts, len(pending)) > 0]
    if len(pending):
        log.warning("PII redaction did not settle after %d passes on %d value(s)", _MAX_PASSES, len(pending))
    return current, counts


def _total(counts: _Counts, n: int) -> _CountArray:
    """Values replaced per row, all kinds together."""
    total = np.zeros(n, dtype=np.int64)
    for found in counts.values():
        total += found
    return total


def _zeros(rules: Sequence[Rule], n: int) -> _Counts:
    return {kind: np.zeros(n, dtype=np.int64) for kind in _kinds(rules)}


def _kinds(rules: Sequence[Rule]) -> list[str]:
    return list(dict.fromkeys(rule.kind for rule in rules))


@lru_cache(maxsize=64)
def _union(rules: tuple[Rule, ...]) -> str:
    return "|".join(f"(?:{rule.loose})" for rule in rules)


def _one_pass(series: pl.Series, rules: Sequence[Rule]) -> tuple[pl.Series, _Counts]:
    counts = _zeros(rules, series.len())
    for rule in rules:
        series, found = _apply(series, rule)
        counts[rule.kind] += found
    return series, counts


def _apply(series: pl.Series, rule: Rule) -> tuple[pl.Series, _CountArray]:
    """One rule over a column: polars finds the rows, and only those rows are rewritten."""
    found = np.zeros(len(series), dtype=np.int64)
    if rule.check is None:
        matches = series.str.count_matches(rule.pattern).fill_null(0)
        rows = (matches > 0).arg_true()
        if rows.len():
            new = series.gather(rows).str.replace_all(rule.pattern, rule.template)
            series = series.scatter(rows, new)
            found = matches.to_numpy().astype(np.int64)
        return series, found
    rows = series.str.contains(rule.loose).fill_null(False).arg_true()
    if rows.len():
        results = [rule.substitute(text) for text in series.gather(rows).to_list()]
        series = series.scatter(rows, pl.Series([text for text, _ in results], dtype=pl.String))
        found[rows.to_numpy()] = [n for _, n in results]
    return series, found

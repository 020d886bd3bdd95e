"""A night's candidate traces reduced to what selection needs: usable or not, the redacted text, the exact key.

A million traces repeat far fewer distinct texts and messages (system prompts, popular questions), so the
costly steps (PII redaction, normalisation, hashing) run once per distinct value and are mapped back to the
traces by integer codes. The result is what the per-trace path would give: a value is redacted, normalised and
hashed on its own, whichever trace it comes from.

`dedup_key` (see `datasets.items`) is made exact within the batch: traces whose key is shared with different
content (a 64-bit collision: about 3e-8 per night for a million distinct inputs) get a null key, and a null
key is never an exact duplicate of anything; near de-duplication still sees them. Matches against the dataset
are confirmed by `content_hash_check`, with sha256 over the few matched candidates only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl
from numpy.typing import NDArray

from tracewatch.datasets.dedup import ExactCheck
from tracewatch.datasets.distinct import Distinct
from tracewatch.datasets.items import (
    DEDUP_KEY,
    combine_part_hashes,
    flat_contents,
    has_text,
    sha256_hex,
    spoken_role,
)
from tracewatch.datasets.normalise import normalise_series
from tracewatch.datasets.pii import redact_frame
from tracewatch.datasets.pii_rules import RedactionConfig
from tracewatch.datasets.sampling.examine import USABLE, Examine, Examined
from tracewatch.hashing import U64, stable_hash64

log = logging.getLogger(__name__)


PartHash = Callable[[pl.Series], U64]
"""The hash of each normalised part; `stable_hash64` except in tests that force collisions."""


@dataclass(frozen=True)
class InputParts:
    """Each trace's input as codes into `normalised`, the distinct redacted, normalised parts: one text code per
    trace (`text_codes`) and `counts[i]` message codes for trace i (`content_codes`, flat, traces in order)."""

    normalised: pl.Series
    text_codes: NDArray[np.int64]
    content_codes: NDArray[np.int64]
    counts: NDArray[np.int64]

    def content_hashes(self, rows: NDArray[np.int64]) -> pl.Series:
        """`items.content_hash` of the traces at `rows`, from their parts: the same bytes, no redaction again."""
        counts = self.counts[rows]
        starts = (np.cumsum(self.counts) - self.counts)[rows]
        offset = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        pieces = pl.DataFrame(
            {
                "row": np.repeat(np.arange(len(rows)), counts),
                "piece": self.normalised.gather(self.content_codes[np.repeat(starts, counts) + offset]),
            }
        )
        messages = (
            pl.DataFrame({"row": np.arange(len(rows))})
            .join(
                pieces.group_by("row").agg(pl.concat_str(pl.lit("\n"), "piece").str.join("").alias("piece")),
                on="row",
                how="left",
                maintain_order="left",
            )
            .get_column("piece")
            .fill_null("")
        )
        payloads = self.normalised.gather(self.text_codes[rows]) + messages
        return sha256_hex(payloads.alias("content_hash"))


@dataclass(frozen=True)
class CandidateInputs:
    """Per trace, in the order given: `usable` (`items.usable_input`), the redacted `input_text`, and
    `dedup_key` of the redacted input (UInt64, null for a trace caught in a key collision); `parts` for the
    content hashes of a few of them."""

    usable: pl.Series
    input_text: pl.Series
    dedup_key: pl.Series
    parts: InputParts


def candidate_inputs(
    traces: pl.DataFrame, redaction: RedactionConfig, *, part_hash: PartHash = stable_hash64
) -> CandidateInputs:
    """Usable input, redacted text and exact-within-the-batch dedup keys of `traces` (trace schema)."""
    texts = traces.get_column("input_text")
    messages = traces.get_column("input_messages")
    counts = messages.list.len().fill_null(0).to_numpy().astype(np.int64)
    roles = messages.explode(empty_as_null=False, keep_nulls=False).struct.field("role")
    # Texts and message contents overlap (the question is both), so they share one factorisation.
    distinct = Distinct.of(pl.concat([texts, flat_contents(messages)]).alias("part"))
    codes = distinct.codes if distinct.codes is not None else np.arange(distinct.values.len(), dtype=np.int64)
    text_codes, content_codes = codes[: traces.height], codes[traces.height :]
    owner = np.repeat(np.arange(traces.height), counts)

    filled = distinct.values.to_frame().select(has_text(pl.col("part"))).to_series().to_numpy()
    spoken = (
        filled[content_codes] & roles.to_frame().select(spoken_role(pl.col("role"))).to_series().to_numpy()
    )
    usable = filled[text_codes] | (np.bincount(owner[spoken], minlength=traces.height) > 0)

    redacted = redact_frame(distinct.values.to_frame(), ["part"], redaction)[0].get_column("part")
    normalised = normalise_series(redacted.fill_null(""))
    hashes = part_hash(normalised)
    text_hashes, content_hashes = hashes[text_codes], hashes[content_codes]
    keys = combine_part_hashes(text_hashes, content_hashes, counts)
    collided = _colliding_parts(normalised, hashes)
    unsafe = (
        collided[text_codes]
        | (np.bincount(owner[collided[content_codes]], minlength=traces.height) > 0)
        | _differs_from_first_with_key(keys, text_hashes, content_hashes, counts)
    )
    if unsafe.any():
        log.warning(
            "dedup_key collision: %d trace(s) get no exact key (near de-duplication still applies)",
            int(unsafe.sum()),
        )
    return CandidateInputs(
        usable=pl.Series("usable", usable, dtype=pl.Boolean),
        input_text=_redacted_rows(texts, redacted, distinct.values, text_codes),
        dedup_key=pl.Series(DEDUP_KEY, keys, dtype=pl.UInt64).scatter(np.flatnonzero(unsafe), None),
        parts=InputParts(normalised, text_codes, content_codes, counts),
    )


def examiner(redaction: RedactionConfig, *, text: str = "input_text", exact_check: bool = True) -> Examine:
    """Examines trace rows as the nightly build does (`sampling.examine`): usable input, the redacted input text,
    `dedup_key` and the sha256 `content_hash`; with `exact_check`, dedup-key matches with the dataset are
    confirmed by sha256. Another `text` column than `input_text` is passed on as read."""

    def examine(rows: pl.DataFrame) -> Examined:
        inputs = candidate_inputs(rows, redaction)
        ids = rows.get_column("trace_id")
        hashes = inputs.parts.content_hashes(np.arange(rows.height, dtype=np.int64))
        frame = rows.select("trace_id", *((text,) if text != "input_text" else ())).with_columns(
            inputs.usable.alias(USABLE), inputs.input_text, inputs.dedup_key, hashes
        )
        return Examined(frame, content_hash_check(ids, inputs.parts) if exact_check else None)

    return examine


def content_hash_check(ids: pl.Series, parts: InputParts) -> ExactCheck:
    """Confirms dedup-key matches with the sha256 `content_hash` of the matched candidates; `ids` are the trace
    ids `parts` describe, in the same order."""
    id_column = ids.name

    def of(matched: pl.Series) -> pl.Series:
        found = ids.to_frame().with_row_index("row").filter(pl.col(id_column).is_in(matched.implode()))
        rows = matched.to_frame(id_column).join(found, on=id_column, how="left", maintain_order="left")
        return parts.content_hashes(rows.get_column("row").to_numpy().astype(np.int64))

    return ExactCheck("content_hash", of)


def _colliding_parts(normalised: pl.Series, hashes: U64) -> NDArray[np.bool_]:
    """Per part: does another part with different normalised text have the same hash?"""
    pairs = pl.DataFrame({"text": normalised, "hash": pl.Series(hashes, dtype=pl.UInt64)})
    if pairs.get_column("hash").n_unique() == normalised.n_unique():  # a hash is a function of the text
        return np.zeros(len(hashes), dtype=bool)
    shared = pairs.unique().filter(pl.col("hash").is_duplicated()).get_column("hash")
    if shared.is_empty():
        return np.zeros(len(hashes), dtype=bool)
    return pairs.get_column("hash").is_in(shared.implode()).to_numpy()


def _differs_from_first_with_key(
    keys: U64, text_hashes: U64, content_hashes: U64, counts: NDArray[np.int64]
) -> NDArray[np.bool_]:
    """Per trace: is its sequence of part hashes unlike that of the first trace with the same key?

    Parts whose hashes collide are caught before (`_colliding_parts`), so equal sequences of part hashes mean
    equal normalised content.
    """
    first = (
        pl.DataFrame({"key": pl.Series(keys, dtype=pl.UInt64)})
        .with_row_index("row")
        .select(pl.col("row").min().over("key"))
        .to_series()
        .to_numpy()
        .astype(np.int64)
    )
    differs = np.zeros(len(keys), dtype=bool)
    later = np.flatnonzero(first != np.arange(len(keys)))
    if not len(later):
        return differs
    lead = first[later]
    unlike = (text_hashes[later] != text_hashes[lead]) | (counts[later] != counts[lead])
    same, lead = later[~unlike], lead[~unlike]
    differs[later[unlike]] = True
    lengths = counts[same]
    starts = np.cumsum(counts) - counts
    offset = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    mismatch = (
        content_hashes[np.repeat(starts[same], lengths) + offset]
        != content_hashes[np.repeat(starts[lead], lengths) + offset]
    )
    pair = np.repeat(np.arange(len(same)), lengths)
    differs[same] = np.bincount(pair[mismatch], minlength=len(same)) > 0
    return differs


def _redacted_rows(
    texts: pl.Series, redacted: pl.Series, distinct: pl.Series, codes: NDArray[np.int64]
) -> pl.Series:
    """The trace texts with redacted values swapped in (few change, so the rest is not copied)."""
    changed = redacted.ne_missing(distinct).to_numpy()
    rows = np.flatnonzero(changed[codes])
    if not len(rows):
        return texts
    return texts.clone().scatter(rows, redacted.gather(codes[rows]))

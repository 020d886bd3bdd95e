"""The failure sampler's `pii_weight`: inputs in which the redactor finds personal data are over-sampled (and
labelled `pii`); with the weight at 0 (the default) the input text is neither read nor a signal."""

from __future__ import annotations

import polars as pl

from tracewatch.datasets.pii import pii_found
from tracewatch.datasets.sampling import FailureSeeking, SamplingSpec, sample

PII_ROWS = {5: "mail me at maria.garcia7@example.com", 17: "my card 4111 1111 1111 1111 was charged twice"}


def traces(n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "trace_id": [f"t{i:04d}" for i in range(n)],
            "status": ["error" if i % 10 == 0 else "ok" for i in range(n)],
            "input_text": [PII_ROWS.get(i, f"what is the capital of country {i}?") for i in range(n)],
        }
    )


def test_pii_found_counts_what_the_redactor_would_replace() -> None:
    found = pii_found(pl.Series("t", ["plain text", PII_ROWS[5], PII_ROWS[17], None]))
    assert found.to_list() == [0, 1, 1, 0]


def test_inputs_with_pii_are_over_sampled_and_labelled() -> None:
    frame = traces(400)
    weighted = FailureSeeking(pii_weight=1000)
    picked = sample(frame, SamplingSpec(strategies=(weighted,), budget=4, seed=3))
    # 40 errors at weight 10 and 358 others at 1 against two PII inputs at 1000: both are all but certain.
    assert {"t0005", "t0017"} <= set(picked["trace_id"])
    labels = dict(zip(picked["trace_id"], picked["stratum"], strict=True))
    assert labels["t0005"] == labels["t0017"] == "failure=pii"
    assert weighted.key_columns() == ("status", "input_text")


def test_without_pii_weight_the_input_is_no_signal() -> None:
    plain = FailureSeeking()
    assert "input_text" not in plain.key_columns()
    picked = sample(traces(400).drop("input_text"), SamplingSpec(strategies=(plain,), budget=4, seed=3))
    assert picked.height == 4 and not picked["stratum"].str.contains("pii").any()

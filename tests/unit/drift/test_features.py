"""Text descriptors and the text representation: what each trace is counted as."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from tracewatch.drift.features import categorical_features, numeric_features
from tracewatch.drift.text import embed, topic_cells

DAY = dt.date(2026, 11, 1)


def test_descriptors_of_known_texts() -> None:
    traces = pl.DataFrame(
        {
            "input_text": ["What is it?", "Что это такое?", "東京はどこですか", "Is mail me@x.org ok?", ""],
            "output_text": ["It is 4.", "I'm sorry, I can't help with that.", "東京", "Yes.", ""],
            "tags": [["a", "b"], [], None, ["a"], ["c"]],
        }
    )
    cats = {name: series.to_list() for name, series in categorical_features(traces, DAY).items()}
    assert cats["question_type"] == ["what", "other", "other", "yes_no", "other"]
    assert cats["script"] == ["latin", "cyrillic", "cjk", "latin", "none"]
    assert cats["pii"] == ["no", "no", "no", "yes", "no"]
    assert cats["refusal"] == ["no", "yes", "no", "no", "no"]
    assert sorted(cats["tags"]) == ["(none)", "(none)", "a", "a", "b", "c"]
    numeric = numeric_features(traces)
    assert numeric["input_chars"].to_list() == [11, 14, 8, 20, 0]
    share = numeric["input_non_ascii_share"].to_list()
    assert share[0] == 0.0 and share[2] == 1.0 and share[4] is None


def test_text_representation_is_deterministic_and_similar_texts_are_close() -> None:
    texts = ["who won the world cup in 2018", "who won the world cup in 2018 final", "capital of peru", None]
    vectors = embed(texts)
    assert np.allclose(np.linalg.norm(vectors[:3], axis=1), 1.0) and not vectors[3].any()
    assert vectors[0] @ vectors[1] > 0.8 > vectors[0] @ vectors[2]
    cells = topic_cells(texts)
    assert cells == topic_cells(texts) and cells[3] == "empty"
    assert all(c.startswith("cell-") and 0 <= int(c[5:]) < 16 for c in cells[:3])

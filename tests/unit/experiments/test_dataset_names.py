"""An experiment over a dataset the store does not have names the datasets it does have (issue 20, item 12),
so a misspelt name is one look away from the right one; an empty store says how to make a dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tracewatch.datasets import seed_dataset
from tracewatch.errors import ConfigError
from tracewatch.experiments import dataset_input
from tracewatch.store import Store


def test_an_unknown_dataset_lists_the_datasets_there(file_store: Store, tmp_path: Path) -> None:
    seeds = tmp_path / "seed.jsonl"
    seeds.write_text("\n".join(json.dumps({"input": f"question {i}?"}) for i in range(3)))
    for name in ("faq", "support-golden"):
        seed_dataset(file_store, name, seeds, run_id="seed-1")
    with pytest.raises(ConfigError) as raised:
        dataset_input(file_store, "fqa")
    assert str(raised.value) == (
        f"there is no dataset 'fqa' in {file_store.url}; the datasets there: faq, support-golden"
    )
    assert dataset_input(file_store, "faq").version == 1


def test_an_empty_store_says_there_is_none_yet_and_how_to_make_one(file_store: Store) -> None:
    with pytest.raises(
        ConfigError, match=r"the datasets there: none yet \(the nightly flow samples a version"
    ):
        dataset_input(file_store, "qa-golden")

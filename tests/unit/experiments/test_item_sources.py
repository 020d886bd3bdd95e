"""An experiment can run over some item sources only (`sources:` in its file), e.g. leave synthetic items out."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from tracewatch.errors import ConfigError
from tracewatch.experiments import Experiment, experiment_from_dict

CONFIG = {"name": "c", "model": "openai/gpt-4o-mini", "prompt": "{input}"}


def experiment(**top: Any) -> Experiment:
    return experiment_from_dict({"name": "exp", "configs": [CONFIG], **top}, check_providers=False)


def items() -> pl.DataFrame:
    return pl.DataFrame(
        {"item_id": ["a", "b", "c"], "source": ["production", "synthetic", "seed"], "input_text": ["x"] * 3}
    )


def test_sources_keep_only_those_items_and_none_keeps_all() -> None:
    kept = experiment(sources=["production", "seed"]).select_items(items())
    assert kept.get_column("item_id").to_list() == ["a", "c"]
    assert experiment(sources=["synthetic"]).select_items(items()).get_column("item_id").to_list() == ["b"]
    assert experiment().select_items(items()).height == 3


def test_an_unknown_source_or_a_filter_that_leaves_nothing_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"sources \['scraped'\] must be some of \['production'"):
        experiment(sources=["scraped"])
    only_real = items().filter(pl.col("source") != "review")
    with pytest.raises(ConfigError, match=r"no dataset item has a source in \['review'\]; the items hold"):
        experiment(sources=["review"]).select_items(only_real)

"""The synthesize flow under a real Prefect server: an experiment file's config is the generator (the local test
model server), the items wait for review, and the flow's summary counts every outcome."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from flows.synthesize import synthesize_flow

from devtools.model_server import ModelServer
from tests.support.dataset_items import item_frame, item_row
from tracewatch.datasets.append import append_version
from tracewatch.datasets.versions import read_manifest
from tracewatch.store import Store


def test_the_flow_writes_a_review_sheet_for_the_thin_stratum(
    store_env: Store, server: ModelServer, tmp_path: Path
) -> None:
    common = [item_row(k, text=f"common question {k} about the weather", model="m") for k in "abc"]
    rare = item_row("r", text="Which river flows through Lyon?", route="qa/rare", model="m")
    append_version(store_env, "flowset", item_frame(*common, rare), kind="sample", run_id="seeded")
    server.configure(answers={"paraphrase of one": json.dumps(["What river runs through Lyon?"])})
    experiment = tmp_path / "generator.yaml"
    experiment.write_text(
        yaml.safe_dump(
            {
                "name": "generator",
                "configs": [
                    {
                        "name": "echo",
                        "model": "openai/tracewatch-echo",
                        "api_base": server.base_url,
                        "prompt": "{input}",
                        "params": {"temperature": 0},
                        "cost_per_1k_input": 0.0,
                        "cost_per_1k_output": 0.0,
                    }
                ],
            }
        )
    )

    summary = synthesize_flow(dataset="flowset", target=3, experiment=str(experiment), seed=3)

    # The shipped nightly spec's strata are route x model: only route=qa/rare,model=m is below 3.
    assert summary["thin_strata"] == {"route=qa/rare,model=m": 1}
    assert summary["counts"] == {"accepted": 1} and summary["version"] is None
    assert (
        summary["review_sheet"]
        and store_env.read_parquet(summary["review_sheet"].replace(".csv", ".parquet")).height == 1
    )
    assert read_manifest(store_env, "flowset").version == 1

"""Items waiting for review before they may enter a dataset version (synthetic items, by default).

They are stored beside the dataset, `warehouse/datasets/<name>/pending/run=<run_id>/items.parquet`, in the item
schema, so that a review import (`datasets.review`) can add the ones a reviewer accepted as a new version.
"""

from __future__ import annotations

import polars as pl

from tracewatch.datasets.schema import ITEM_SCHEMA
from tracewatch.datasets.versions import dataset_prefix
from tracewatch.paths import check_name
from tracewatch.store import Store

PENDING_NAME = "items.parquet"


def pending_prefix(name: str) -> str:
    """Where the pending items of every run for dataset `name` live."""
    return f"{dataset_prefix(name)}/pending"


def pending_key(name: str, run_id: str) -> str:
    """The pending items of one run; a rerun of the run replaces them."""
    return f"{pending_prefix(name)}/run={check_name(run_id, 'experiment id')}/{PENDING_NAME}"


def write_pending(store: Store, name: str, run_id: str, items: pl.DataFrame) -> str:
    """Store `items` (item schema) as run `run_id`'s pending items of `name`; returns their key."""
    key = pending_key(name, run_id)
    store.write_parquet(key, items.select(list(ITEM_SCHEMA)).cast(pl.Schema(ITEM_SCHEMA)))
    return key


def read_pending(store: Store, name: str) -> pl.DataFrame:
    """Every run's pending items of `name` (item schema), the earliest written copy of an item id first."""
    keys = sorted(o.key for o in store.list_objects(pending_prefix(name), suffix=f"/{PENDING_NAME}"))
    frames = [store.read_parquet(key).select(list(ITEM_SCHEMA)) for key in keys]
    if not frames:
        return pl.DataFrame(schema=ITEM_SCHEMA)
    return pl.concat(frames).cast(pl.Schema(ITEM_SCHEMA)).unique("item_id", keep="first", maintain_order=True)

"""Evaluation datasets: sampled from production traces night by night, seeded from curated files, answered by
human review, kept as append-only versions in the object store. See docs/datasets.md.

This is the package's public face; its modules are the implementation. The nightly step is
`sample_dataset_items` (build the night's version, publish its report tables); `build_dataset_version` builds
one for any window. A dataset spec (`DatasetSpec`, from YAML by `load_dataset_spec`) says how a dataset grows:
its sampling (`SamplingSpec` and its strategies, docs/datasets-sampling.md), PII redaction (`RedactionConfig`,
docs/datasets-pii.md) and the silver-answer rule (`SilverRule`). Versions are read with `read_version` and
friends, and written with `append_version`, `seed_dataset` and `import_reviews`.
"""

from tracewatch.datasets.append import VersionExistsError, append_version
from tracewatch.datasets.build import DatasetBuild, build_dataset_version
from tracewatch.datasets.items import SilverRule, dedup_keys, items_from_traces
from tracewatch.datasets.night import publish_dataset_reports, sample_dataset_items
from tracewatch.datasets.pii import redact_frame, redact_text
from tracewatch.datasets.pii_rules import RedactionConfig
from tracewatch.datasets.review import ReviewExport, ReviewImport, export_for_review, import_reviews
from tracewatch.datasets.sampling import (
    DedupSpec,
    FailureSeeking,
    Novelty,
    SamplingSpec,
    SamplingStrategy,
    Stratified,
    Uniform,
)
from tracewatch.datasets.schema import ITEM_SCHEMA, ITEM_SOURCES, STORED_SCHEMA
from tracewatch.datasets.seed import RejectedRow, SeedOutcome, SeedReport, seed_dataset
from tracewatch.datasets.spec import NIGHTLY_SPEC, DatasetSpec, load_dataset_spec
from tracewatch.datasets.synthetic import (
    BUDGET_STOP,
    EXACT_IN_BATCH,
    MODEL_ERROR,
    SynthesisResult,
    check_kinds,
    synthesize,
)
from tracewatch.datasets.versions import (
    DATASETS_PREFIX,
    VersionDiff,
    VersionManifest,
    diff_versions,
    find_version,
    latest_version,
    list_datasets,
    list_versions,
    make_source_key,
    missing_dataset_error,
    read_manifest,
    read_version,
)

__all__ = [
    "BUDGET_STOP",
    "DATASETS_PREFIX",
    "EXACT_IN_BATCH",
    "ITEM_SCHEMA",
    "ITEM_SOURCES",
    "MODEL_ERROR",
    "NIGHTLY_SPEC",
    "STORED_SCHEMA",
    "DatasetBuild",
    "DatasetSpec",
    "DedupSpec",
    "FailureSeeking",
    "Novelty",
    "RedactionConfig",
    "RejectedRow",
    "ReviewExport",
    "ReviewImport",
    "SamplingSpec",
    "SamplingStrategy",
    "SeedOutcome",
    "SeedReport",
    "SilverRule",
    "Stratified",
    "SynthesisResult",
    "Uniform",
    "VersionDiff",
    "VersionExistsError",
    "VersionManifest",
    "append_version",
    "build_dataset_version",
    "check_kinds",
    "dedup_keys",
    "diff_versions",
    "export_for_review",
    "find_version",
    "import_reviews",
    "items_from_traces",
    "latest_version",
    "list_datasets",
    "list_versions",
    "load_dataset_spec",
    "make_source_key",
    "missing_dataset_error",
    "publish_dataset_reports",
    "read_manifest",
    "read_version",
    "redact_frame",
    "redact_text",
    "sample_dataset_items",
    "seed_dataset",
    "synthesize",
]

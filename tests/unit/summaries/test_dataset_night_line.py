"""The night's dataset line says what PII was redacted in the new items, per kind, or that none was found."""

from __future__ import annotations

from tracewatch.summaries import dataset_night_line

MESSAGE = "dataset 'production-samples' version 3: 2 new item(s)"


def test_redactions_are_listed_per_kind_with_the_total() -> None:
    line = dataset_night_line(MESSAGE, {"phone": 2, "email": 1, "secret": 0})
    assert line == f"{MESSAGE}. **PII redacted in the new items: 3** (1 email, 2 phone)."


def test_no_pii_found_names_the_kinds_checked() -> None:
    line = dataset_night_line(MESSAGE, {"email": 0, "phone": 0})
    assert line == f"{MESSAGE}. No PII found in the new items (checked: email, phone)."


def test_without_redaction_counts_the_build_message_stands_alone() -> None:
    assert dataset_night_line("no traces: no version created", {}) == "no traces: no version created"

"""The night summary's drift section reads at a glance: tonight first with what changed, by how much, since when;
earlier nights of the run one line each; headings nested under the summary's one `#` title."""

from __future__ import annotations

import datetime as dt
import itertools
import re

import pytest
from night_fixtures import NIGHT, latency, model, night, thumbs

from tracewatch.drift import DriftNight
from tracewatch.ingest import IngestResult
from tracewatch.summaries import drift_section_markdown, nest_headings, night_summary_markdown, streak_starts

DAY = dt.timedelta(days=1)


def _run_of_four_nights() -> list[DriftNight]:
    return [
        night(NIGHT - 3 * DAY, tested=0),
        night(NIGHT - 2 * DAY, latency(NIGHT - 2 * DAY)),
        night(NIGHT - DAY, latency(NIGHT - DAY), thumbs(NIGHT - DAY)),
        night(NIGHT, latency(NIGHT), model(NIGHT), thumbs(NIGHT)),
    ]


def _table(section: str) -> list[list[str]]:
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows]


def test_tonight_comes_first_with_its_alert_count() -> None:
    section = drift_section_markdown(NIGHT, _run_of_four_nights())
    assert section.splitlines()[0] == "### Tonight (2026-11-10): 3 alerts"
    assert section.index("### Tonight") < section.index("### Earlier nights of this run (3)")
    assert "a long message" not in section  # the drift step's log lines are not the summary


def test_the_alert_table_says_what_changed_how_much_and_since_when() -> None:
    header, *rows = _table(drift_section_markdown(NIGHT, _run_of_four_nights()))
    assert header == ["feature", "change", "effect size", "reference", "since"]
    assert rows == [
        [
            "latency_ms",
            "mean 1286 -> 2291 (higher)",
            "0.43 (normalised Wasserstein distance)",
            "2026-11-03..2026-11-09 (7 days)",
            "2026-11-08",
        ],
        [
            "model",
            "share of gpt-4o-mini-2026-10: 0.0% -> 36.2%",
            "0.362 (largest share change)",
            "2026-11-03..2026-11-09 (7 days)",
            "2026-11-10",
        ],
        [
            "thumbs (quality score)",
            "mean 0.641 -> 0.377 (lower is worse)",
            "z = -5.48",
            "2026-11-03..2026-11-09 (7 days)",
            "2026-11-09",
        ],
    ]


def test_since_comes_from_earlier_reports_when_the_run_holds_only_tonight() -> None:
    only_tonight = [night(NIGHT, latency(NIGHT), model(NIGHT))]
    since = {("drift", "latency_ms"): dt.date(2026, 10, 30)}
    rows = _table(drift_section_markdown(NIGHT, only_tonight, since=since))[1:]
    assert [(r[0], r[-1]) for r in rows] == [("latency_ms", "2026-10-30"), ("model", "2026-11-10")]
    assert "Earlier nights" not in drift_section_markdown(NIGHT, only_tonight)


def test_a_streak_is_broken_by_a_quiet_night_and_kinds_are_kept_apart() -> None:
    nights = [
        night(NIGHT - 3 * DAY, latency(NIGHT - 3 * DAY)),
        night(NIGHT - 2 * DAY),  # quiet: the alert of the night before is an earlier episode
        night(NIGHT - DAY, latency(NIGHT - DAY), thumbs(NIGHT - DAY)),
        night(NIGHT, latency(NIGHT), thumbs(NIGHT)),
    ]
    assert streak_starts(NIGHT, nights) == {
        ("drift", "latency_ms"): NIGHT - DAY,
        ("quality", "thumbs"): NIGHT - DAY,
    }


def test_earlier_nights_get_one_line_each_oldest_first() -> None:
    section = drift_section_markdown(NIGHT, _run_of_four_nights())
    earlier = section.split("### Earlier nights of this run (3)\n\n")[1].strip().splitlines()
    assert earlier == [
        "- 2026-11-07: nothing to compare with yet (no reference day)",
        "- 2026-11-08: 1 alert(s): latency_ms",
        "- 2026-11-09: 2 alert(s): latency_ms, thumbs (quality score)",
    ]


@pytest.mark.parametrize(
    ("tonight", "expected"),
    [
        (night(NIGHT), "No alert (20 feature(s) tested); reference 2026-11-03..2026-11-09 (7 days)."),
        (
            night(NIGHT, rows=0),
            "No accepted trace, nothing compared; reference 2026-11-03..2026-11-09 (7 days).",
        ),
        (
            night(NIGHT, warming_up="warming up: the reference holds 2 day(s)"),
            "No alert possible yet: the reference holds 2 day(s); reference 2026-11-03..2026-11-09 (7 days).",
        ),
    ],
)
def test_a_quiet_night_says_why_in_one_line(tonight: DriftNight, expected: str) -> None:
    section = drift_section_markdown(NIGHT, [tonight])
    assert section.splitlines()[:3] == ["### Tonight (2026-11-10): 0 alerts", "", expected]


def test_a_night_drift_did_not_assess_says_so() -> None:
    section = drift_section_markdown(NIGHT, [night(NIGHT - DAY)])
    assert section.startswith("### Tonight (2026-11-10): drift was not assessed\n")


def test_the_night_summary_nests_every_heading_under_one_title() -> None:
    ingest = IngestResult[None](run_id="r1")
    old_style = "# Drift and quality on 2026-11-10\n\nsummary\n\n## detail"  # what alerts_markdown writes
    summary = night_summary_markdown(
        NIGHT,
        ingest,
        [],
        sections=[
            ("Drift and quality", drift_section_markdown(NIGHT, _run_of_four_nights())),
            ("Old", old_style),
        ],
    )
    levels = [len(m[1]) for m in re.finditer(r"^(#+) ", summary, re.MULTILINE)]
    assert levels.count(1) == 1 and levels[0] == 1
    assert all(b <= a + 1 for a, b in itertools.pairwise(levels)), levels  # no level skipped
    assert "## Drift and quality\n\n### Tonight (2026-11-10): 3 alerts" in summary
    assert "## Old\n\n### Drift and quality on 2026-11-10\n\nsummary\n\n#### detail" in summary


def test_nesting_leaves_code_blocks_and_deep_enough_headings_alone() -> None:
    body = "```\n# a comment in code\n```\n### Already nested\n#hashtag"
    assert nest_headings(body, under=2) == body
    assert nest_headings("# Top\n#### Deep", under=2) == "### Top\n###### Deep"

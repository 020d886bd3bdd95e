"""What a person reads about the pipeline's results: the night's summary, an experiment's leaderboard, the
store's overview. It sits above the stages (it reads what each of them wrote); the stages never import it."""

from tracewatch.summaries.alert_history import alert_streaks, alerted_on, night_drift_section
from tracewatch.summaries.drift_section import (
    AlertKey,
    alert_key,
    drift_section_markdown,
    night_line,
    streak_starts,
)
from tracewatch.summaries.imports import import_markdown, import_table
from tracewatch.summaries.leaderboard import experiment_leaderboard, leaderboard_table
from tracewatch.summaries.night import (
    NightLinks,
    dataset_night_line,
    ingest_table,
    nest_headings,
    night_summary_markdown,
)
from tracewatch.summaries.overview import daily_overview, overview_text

__all__ = [
    "AlertKey",
    "NightLinks",
    "alert_key",
    "alert_streaks",
    "alerted_on",
    "daily_overview",
    "dataset_night_line",
    "drift_section_markdown",
    "experiment_leaderboard",
    "import_markdown",
    "import_table",
    "ingest_table",
    "leaderboard_table",
    "nest_headings",
    "night_drift_section",
    "night_line",
    "night_summary_markdown",
    "overview_text",
    "streak_starts",
]

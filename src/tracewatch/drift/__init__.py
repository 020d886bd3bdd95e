"""Drift detection and quality trends: daily mergeable profiles, reference windows, size-aware tests, alerts."""

from tracewatch.drift.alerts import Alert, DriftAlert, QualityAlert, alert_event, alert_rows, alerts_markdown
from tracewatch.drift.baseline import check_rebaseline
from tracewatch.drift.checks import CheckResult, DriftReport, run_checks
from tracewatch.drift.config import DriftConfig
from tracewatch.drift.features import PROFILE_INPUT_COLUMNS
from tracewatch.drift.night import DriftNight, NightAssessment, assess_night, detect_drift
from tracewatch.drift.profile import DayProfile, build_day_profile, merge_profiles
from tracewatch.drift.profile_parts import profile_from_files
from tracewatch.drift.profile_store import read_profile, write_profile
from tracewatch.drift.quality import CusumState, QualityPoint, feedback_scores, quality_trends
from tracewatch.drift.vectors import VectorMoments, mmd_test
from tracewatch.drift.window import ReferenceWindow, load_reference

__all__ = [
    "PROFILE_INPUT_COLUMNS",
    "Alert",
    "CheckResult",
    "CusumState",
    "DayProfile",
    "DriftAlert",
    "DriftConfig",
    "DriftNight",
    "DriftReport",
    "NightAssessment",
    "QualityAlert",
    "QualityPoint",
    "ReferenceWindow",
    "VectorMoments",
    "alert_event",
    "alert_rows",
    "alerts_markdown",
    "assess_night",
    "build_day_profile",
    "check_rebaseline",
    "detect_drift",
    "feedback_scores",
    "load_reference",
    "merge_profiles",
    "mmd_test",
    "profile_from_files",
    "quality_trends",
    "read_profile",
    "run_checks",
    "write_profile",
]

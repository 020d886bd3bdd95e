"""One row of the `drift` table (`CheckResult`) and the names its fields use.

The `test` rows' methods: `chisquare` / `binned_chisquare` (pooled: today against the pooled reference) and
`cmh_chisquare` / `binned_cmh_chisquare` (within route x model segments, `stratified`); `binned_` ones test a
numeric feature on buckets cut at the reference's deciles.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

P_VALUE_DIRECTION = "p_value below threshold is drift"
DISTANCE_DIRECTION = "statistic at or above threshold is drift"
ALERT_DIRECTION = "alert when p_value_adjusted is below threshold and effect_size reaches effect_threshold"
SHARE_CHANGE = "largest share change"
WASSERSTEIN_EFFECT = "normalised Wasserstein distance"
METHOD_NAMES = {
    "ks": "KS p-value",
    "chisquare": "chi-square p-value",
    "binned_chisquare": "chi-square p-value on reference deciles",
    "cmh_chisquare": "CMH chi-square p-value",
    "binned_cmh_chisquare": "CMH chi-square p-value on reference deciles",
    "wasserstein": "normalised Wasserstein distance",
    "jensenshannon": "Jensen-Shannon distance",
    "psi": "PSI",
    "mmd": "MMD p-value",
}
Window = tuple[dt.date, dt.date]
SUSTAINED_SUFFIX = "night"
"""A sustained (multi-night, `sustained`) test row's method is the night's method with `_<N>night` appended."""


@dataclass(frozen=True)
class CheckResult:
    """One statistic of one feature (roles: `checks`' module docstring) or the dataset's share of alerts.

    `direction` says which way means drift; `p_value` is None where a method has none. The fields after
    `message` are set on `test` rows (and `alert` on the `dataset` row) by the night's decision.
    """

    feature: str
    kind: str  # numeric | categorical | vector | dataset
    role: str  # test | evidently | extra | dataset
    method: str
    statistic: float
    threshold: float
    p_value: float | None
    drifted: bool
    direction: str
    reference_size: int
    current_size: int
    reference_start: dt.date | None
    reference_end: dt.date | None
    message: str
    p_value_adjusted: float | None = None
    effect_measure: str | None = None
    effect_size: float | None = None
    effect_threshold: float | None = None
    dispersion: float | None = None
    """How much more the reference days differ among themselves than sampling explains (1: not significantly)."""
    alert: bool = False


def is_sustained(result: CheckResult) -> bool:
    """Whether a `drift` row is a sustained (multi-night) test rather than the night's own."""
    return result.role == "test" and result.method.endswith(SUSTAINED_SUFFIX)

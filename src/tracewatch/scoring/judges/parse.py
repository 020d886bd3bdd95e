"""Turn a judge model's reply into a `Score`: pure, so every way a reply can be malformed is tested with no model.

Judges are asked for one JSON object, `{"score": <number>, "reason": "<one sentence>"}`. Models wrap it in
prose or code fences, so the first JSON object in the text is taken; failing that, a `score: N` line. A reply
with neither, or with a score outside the judge's scale, is an `error` Score that keeps the raw text: a
judgement that could not be read is never turned into a number.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from tracewatch.scoring.types import Score

_SCORE_LINE = re.compile(r"\bscore\"?\s*[:=]\s*\"?(-?\d+(?:\.\d+)?)", re.IGNORECASE)
_FLAGGED_LINE = re.compile(r"\bflagged\"?\s*[:=]\s*\"?(true|false|yes|no)\b", re.IGNORECASE)
RAW_TEXT_LIMIT = 2000
"""Characters of an unreadable reply kept in the error score's metadata (enough to see what went wrong)."""


def first_json_object(text: str) -> Mapping[str, Any] | None:
    """The first `{...}` in `text` that parses as a JSON object, or None."""
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            value, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            start = text.find("{", start + 1)
            continue
        if isinstance(value, dict):
            return value
        start = text.find("{", start + 1)
    return None


def _unreadable(reason: str, text: str) -> Score:
    return Score.error(f"unparseable judgement: {reason}", {"raw": text[:RAW_TEXT_LIMIT]})


def parse_scale(text: str, low: float, high: float) -> Score:
    """A `{"score": N, "reason": ...}` reply on the scale [low, high], normalised to [0, 1] (1 = best).

    The score as the judge gave it is kept in the metadata as `raw_score`."""
    found = first_json_object(text)
    raw: object
    reason = ""
    if found is not None and "score" in found:
        raw, reason = found["score"], str(found.get("reason") or found.get("explanation") or "")
    else:
        line = _SCORE_LINE.search(text)
        if line is None:
            return _unreadable("no JSON object with a 'score' and no 'score: N' line", text)
        raw = line.group(1)
    try:
        value = float(raw) if isinstance(raw, int | float | str) and not isinstance(raw, bool) else math.nan
    except ValueError:
        return _unreadable(f"score {raw!r} is not a number", text)
    if math.isnan(value) and not isinstance(raw, float):
        return _unreadable(f"score {raw!r} is not a number", text)
    if not math.isfinite(value) or not low <= value <= high:
        return _unreadable(f"score {raw!r} is outside the scale {low:g}..{high:g}", text)
    normalised = (value - low) / (high - low)
    return Score.scored(normalised, reason.strip(), {"raw_score": value})


def parse_flag(text: str) -> Score:
    """A moderation reply `{"flagged": true|false, "categories": [...], "reason": ...}` as a safety score:
    1.0 when nothing was flagged, 0.0 when something was (so higher is better, like every other judge)."""
    found = first_json_object(text)
    categories: list[str] = []
    reason = ""
    flag: object
    if found is not None and "flagged" in found:
        flag = found["flagged"]
        reason = str(found.get("reason") or "")
        listed = found.get("categories") or []
        categories = [str(c) for c in listed] if isinstance(listed, list) else [str(listed)]
    else:
        line = _FLAGGED_LINE.search(text)
        if line is None:
            return _unreadable("no JSON object with 'flagged' and no 'flagged: true|false' line", text)
        flag = line.group(1)
    if isinstance(flag, str):
        flag = {"true": True, "yes": True, "false": False, "no": False}.get(flag.strip().lower(), flag)
    if not isinstance(flag, bool):
        return _unreadable(f"'flagged' is {flag!r}, expected true or false", text)
    return Score.scored(0.0 if flag else 1.0, reason.strip(), {"categories": categories})

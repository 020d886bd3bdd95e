"""How much of Great Expectations' own logging a run shows.

Importing great_expectations logs about 200 INFO lines ("Skipping registering function ...") and a few more
per run, which bury tracewatch's own lines wherever the root logger is at INFO (the demo, `make up`). GX's
warnings and errors still show; `TRACEWATCH_GX_LOG_LEVEL=INFO` (or DEBUG) brings the rest back when debugging GX.
"""

from __future__ import annotations

import logging
import os

from tracewatch.errors import ConfigError

GX_LOG_LEVEL_ENV = "TRACEWATCH_GX_LOG_LEVEL"
DEFAULT_GX_LOG_LEVEL = "WARNING"
_GX_LOGGER = "great_expectations"
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def gx_log_level() -> int:
    """The level for GX's loggers: `TRACEWATCH_GX_LOG_LEVEL` (a level name), else WARNING."""
    raw = os.environ.get(GX_LOG_LEVEL_ENV, "").strip() or DEFAULT_GX_LOG_LEVEL
    if raw.upper() not in _LEVELS:
        raise ConfigError(
            f"{GX_LOG_LEVEL_ENV}={raw!r} is not a log level; expected one of {', '.join(_LEVELS)}"
        )
    return logging.getLevelNamesMapping()[raw.upper()]


def quiet_gx_loggers() -> int:
    """Set GX's loggers to `gx_log_level()`; returns the level.

    Called before GX is imported (its import-time lines go through the parent logger) and again after (a few
    GX modules set their own logger to INFO at import, which the parent's level would not override).
    """
    level = gx_log_level()
    logging.getLogger(_GX_LOGGER).setLevel(level)
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if name.startswith(f"{_GX_LOGGER}.") and isinstance(logger, logging.Logger) and logger.level:
            logger.setLevel(level)
    return level

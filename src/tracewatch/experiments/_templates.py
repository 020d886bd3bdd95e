"""Prompt templates: `{field}` placeholders filled from a dataset item, and the checks that a template only
names fields items can have (at load time) and that the items at hand have them (before the first call).

`{field}` is a placeholder and `{{field}}` writes a literal `{field}`; any other brace is plain text, so JSON
examples in a prompt need no escaping. The reference for users is docs/experiments-configs.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from tracewatch.datasets import ITEM_SCHEMA
from tracewatch.errors import ConfigError, TracewatchError

DEFAULT_PROMPT = "{input}"

FIELD_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "input": "input_text",
        "messages": "input_messages",
        "context": "retrieved_context",
        "expected": "expected_output",
    }
)
"""Short template names for item columns; every item column can also be used under its own name."""

TEMPLATE_FIELDS: tuple[str, ...] = (*FIELD_ALIASES, *ITEM_SCHEMA)
"""Every template field name besides `metadata.<key>`."""

_FIELD = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]+)?"
_PLACEHOLDER = re.compile(r"\{\{(" + _FIELD + r")\}\}|\{(" + _FIELD + r")\}")


class ItemFieldError(TracewatchError):
    """One item lacks a value a template needs. The item fails with this reason; the run goes on."""


def template_fields(template: str) -> tuple[str, ...]:
    """The fields a template uses, in order of first use."""
    seen: dict[str, None] = {}
    for match in _PLACEHOLDER.finditer(template):
        if match.group(2) is not None:
            seen.setdefault(match.group(2))
    return tuple(seen)


def render_template(template: str, item: Mapping[str, Any]) -> str:
    """Fill a template's placeholders from one item; a field the item has no value for raises ItemFieldError."""

    def fill(match: re.Match[str]) -> str:
        if match.group(1) is not None:
            return "{" + match.group(1) + "}"
        return _field_text(item, match.group(2))

    return _PLACEHOLDER.sub(fill, template)


def check_template_names(template: str, where: str) -> None:
    """ConfigError listing the available fields if `template` names a field no item can have."""
    unknown = [
        name for name in template_fields(template) if name not in TEMPLATE_FIELDS and not _is_metadata(name)
    ]
    if unknown:
        raise ConfigError(
            f"{where}: unknown template field(s) {', '.join('{' + n + '}' for n in unknown)}; available: "
            f"{', '.join('{' + n + '}' for n in TEMPLATE_FIELDS)} and {{metadata.<key>}} "
            "(write {{name}} for a literal {name})"
        )


def has_value(item: Mapping[str, Any], name: str) -> bool:
    """Whether `item` can fill the template field `name`."""
    if _is_metadata(name):
        return _metadata(item).get(name.split(".", 1)[1]) is not None
    value = item.get(FIELD_ALIASES.get(name, name))
    return value is not None and value != []


def available_fields(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The template fields at least one of `rows` has a value for, metadata keys included."""
    metadata_keys = sorted(
        {f"metadata.{k}" for row in rows for k, v in _metadata(row).items() if v is not None}
    )
    return [name for name in TEMPLATE_FIELDS if any(has_value(row, name) for row in rows)] + metadata_keys


def _is_metadata(name: str) -> bool:
    return name.startswith("metadata.")


def _field_text(item: Mapping[str, Any], name: str) -> str:
    if _is_metadata(name):
        key = name.split(".", 1)[1]
        value = _metadata(item).get(key)
    else:
        value = item.get(FIELD_ALIASES.get(name, name))
    if value is None:
        raise ItemFieldError(f"item {item.get('item_id', '?')} has no value for template field {{{name}}}")
    return _as_text(name, value)


def _as_text(name: str, value: Any) -> str:
    column = FIELD_ALIASES.get(name, name)
    if isinstance(value, str):
        return value
    if column == "input_messages":
        return "\n".join(f"{m.get('role', '')}: {m.get('content', '')}" for m in value)
    if column == "retrieved_context":
        return "\n\n".join(str(p.get("text") or "") for p in value)
    if column == "tags":
        return ", ".join(str(t) for t in value)
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def _metadata(item: Mapping[str, Any]) -> Mapping[str, Any]:
    raw = item.get("metadata")
    if isinstance(raw, Mapping):
        return raw
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except (TypeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}

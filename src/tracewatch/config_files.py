"""The one reader of YAML config files (experiments, sources, dataset specs, trace scoring, command-line values),
with bounds: a config is trusted input (docs/security.md), but a mistaken or hostile file must fail fast with a
reason, not take the worker's memory or an hour.

PyYAML's `safe_load` builds no arbitrary objects, yet it is not bounded: an anchor "bomb" (each level an alias
list of the one before, "billion laughs") becomes a graph of shared references that costs nothing to build and
explodes when anything walks it (validation, hashing, JSON); a document nested thousands deep overflows the
stack; and nothing limits the size. So the text is first walked as a stream of parser events, which is linear
in its size and uses no recursion, counting the depth and the nodes an expansion of every alias would make; only
a document within the bounds is constructed.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from tracewatch.errors import ConfigError

_EVENTS = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's parser when PyYAML was built with it (several times faster); the same events either way."""

MAX_CONFIG_BYTES = 1_000_000
"""The largest config file read (1 MB): the shipped configs are a few kB; a bigger one is a mistake."""
MAX_CONFIG_DEPTH = 64
"""The deepest nesting of mappings and lists in a config (the shipped ones go 6 deep)."""
MAX_CONFIG_NODES = 200_000
"""The most values a config may expand to, counting each alias (`*name`) as a copy of what its anchor holds."""


def read_config_file(path: str | Path, what: str) -> object:
    """The YAML document of the file at `path`, within the bounds; `what` names the file in messages
    ("experiment file", "sources file", ...). A file that cannot be read is a `ConfigError` too."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{what} {path} is larger than {MAX_CONFIG_BYTES:,} bytes; a config file is expected to be small "
            "(data belongs in the store, not in a config)"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what} {path} is not UTF-8 text: {exc}") from None
    return load_config_text(text, f"{what} {path}")


def load_config_text(text: str, where: str) -> object:
    """The YAML document in `text` (a config file's content, a flow parameter typed in), within the bounds;
    a `ConfigError` that names `where` and the bound otherwise."""
    if len(text) > MAX_CONFIG_BYTES:  # counted in characters: at least as many bytes
        raise ConfigError(
            f"{where} is longer than {MAX_CONFIG_BYTES:,} characters; a config is expected to be small"
        )
    try:
        _check_shape(text, where)
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where} is not valid YAML: {exc}") from None


def _check_shape(text: str, where: str) -> None:
    """Refuse a document nested deeper than `MAX_CONFIG_DEPTH` or expanding to more than `MAX_CONFIG_NODES`
    values, from the parser's events alone (nothing is constructed)."""
    expanded: dict[str, int] = {}
    """anchor -> the number of values the anchored node expands to"""
    open_nodes: list[tuple[str | None, int]] = []
    """the collections being read: (their anchor, the values counted in them so far)"""
    total = 0
    for event in yaml.parse(text, Loader=_EVENTS):
        size = 0
        if isinstance(event, yaml.CollectionStartEvent):
            if len(open_nodes) >= MAX_CONFIG_DEPTH:
                raise ConfigError(
                    f"{where} is nested more than {MAX_CONFIG_DEPTH} levels deep (line {_line(event)}); "
                    "a config is expected to be shallow"
                )
            open_nodes.append((event.anchor, 1))
            continue
        if isinstance(event, yaml.CollectionEndEvent):
            anchor, size = open_nodes.pop()
            if anchor is not None:
                expanded[anchor] = size
        elif isinstance(event, yaml.ScalarEvent):
            size = 1
            if event.anchor is not None:
                expanded[event.anchor] = 1
        elif isinstance(event, yaml.AliasEvent):
            size = expanded.get(event.anchor, 1)
        if not size:
            continue
        if open_nodes:
            anchor, counted = open_nodes[-1]
            open_nodes[-1] = (anchor, counted + size)
            total_now = counted + size
        else:
            total += size
            total_now = total
        if total_now > MAX_CONFIG_NODES:
            raise ConfigError(
                f"{where} expands to more than {MAX_CONFIG_NODES:,} values (line {_line(event)}), counting "
                "each alias (*name) as a copy of its anchor: an anchor 'bomb' or a file far larger than a config"
            )


def _line(event: yaml.Event) -> int:
    mark = event.start_mark
    return mark.line + 1 if mark is not None else 0

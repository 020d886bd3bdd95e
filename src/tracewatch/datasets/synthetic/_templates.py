"""Prompt templates of synthetic generation: one small YAML file per kind in `data/synthetic/`, so a team can read
and change what the generator is asked without touching code."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tracewatch.config_files import read_config_file
from tracewatch.errors import ConfigError
from tracewatch.llm import Message
from tracewatch.paths import shipped_data

KINDS: tuple[str, ...] = ("paraphrase", "harder", "adversarial")
"""What a generator can be asked for: paraphrases, harder variants, adversarial or out-of-scope inputs."""

_PLACEHOLDERS = ("{count}", "{stratum}", "{examples}")


@dataclass(frozen=True)
class Template:
    """One kind's prompt: a system message and a user message with `{count}`, `{stratum}`, `{examples}`."""

    kind: str
    name: str
    """The shipped file it came from (`synthetic/<kind>.yaml`), recorded in every item's provenance."""
    system: str
    user: str

    def messages(self, *, stratum: str, examples: Sequence[str], count: int) -> list[Message]:
        """The request for `count` new inputs in the style of `examples` (real inputs of `stratum`)."""
        listed = "\n".join(f"- {json.dumps(text, ensure_ascii=False)}" for text in examples)
        user = (
            self.user.replace("{count}", str(count))
            .replace("{stratum}", stratum)
            .replace("{examples}", listed)
        )
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]


def check_kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    """`kinds` without repeats, or a ConfigError naming the unknown ones and the allowed ones."""
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise ConfigError(f"synthetic kinds {list(kinds)}: use one or more of {list(KINDS)}")
    return tuple(dict.fromkeys(kinds))


def load_template(kind: str) -> Template:
    """The shipped template of `kind`, checked: both messages present, the user message uses every placeholder."""
    check_kinds([kind])
    name = f"synthetic/{kind}.yaml"
    data = read_config_file(shipped_data(name), "synthetic prompt template")
    if not isinstance(data, Mapping) or not all(isinstance(data.get(k), str) for k in ("system", "user")):
        raise ConfigError(f"{name} must be a mapping with text fields 'system' and 'user'")
    missing = [p for p in _PLACEHOLDERS if p not in data["user"]]
    if missing:
        raise ConfigError(f"{name}: the user message must use the placeholders {missing}")
    return Template(kind=kind, name=name, system=data["system"], user=data["user"])

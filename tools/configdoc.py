"""Generate the config reference of README.md from the config model, so the two cannot drift.

    python -m tools.configdoc            # print the table
    python -m tools.configdoc --write    # rewrite the block between the markers in README.md
"""

from __future__ import annotations

import argparse
import json
import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from components.config import GROUPS, SCALARS
from components.errors import PROJECT
from environments import load_config

README = Path(__file__).resolve().parent.parent / "README.md"
BEGIN, END = "<!-- config-reference:begin -->", "<!-- config-reference:end -->"
COLUMNS = {"dev": "dev", "staging": "staging", "production": "production", "pr-1": "ephemeral"}
# Validator function name -> what the README calls that kind of value.
KINDS = {
    "_cpu": "CPU quantity", "_memory": "memory quantity", "_storage": "storage quantity",
    "_dns_label": "DNS-1123 label", "_hostname": "host name", "_repository": "image repository",
    "_tag": "image tag", "_digest": "sha256 digest", "_cron": "cron schedule", "_duration": "duration",
    "_http_path": "HTTP path", "_sql_identifier": "SQL identifier", "_priority_class": "PriorityClass name",
}


def _kind(annotation: Any, metadata: list[Any]) -> str:
    for item in metadata:
        name = getattr(getattr(item, "func", None), "__name__", "")
        if name in KINDS:
            return KINDS[name]
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin is typing.Literal:
        return " \\| ".join(str(a) for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        inner = args[0]
        return _kind(typing.get_args(inner)[0] if typing.get_origin(inner) is typing.Annotated else inner,
                     list(typing.get_args(inner)[1:]) if typing.get_origin(inner) is typing.Annotated else [])
    if origin is typing.Annotated:
        return _kind(typing.get_args(annotation)[0], list(typing.get_args(annotation)[1:]))
    if origin is dict:
        return "map"
    if origin is tuple:
        return "list"
    bounds = [f"{k} {getattr(m, k)}" for m in metadata for k in ("ge", "le") if getattr(m, k, None) is not None]
    base = getattr(annotation, "__name__", str(annotation))
    return base + (f" ({', '.join(bounds).replace('ge ', '≥ ').replace('le ', '≤ ')})" if bounds else "")


def _leaves(model: type[BaseModel], prefix: str) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """(key path, kind, description, attribute path) for every leaf setting of a model."""
    rows = []
    for name, field in model.model_fields.items():
        key = f"{prefix}.{field.alias or name}"
        annotation = field.annotation
        nested = [a for a in (annotation, *typing.get_args(annotation)) if isinstance(a, type) and issubclass(a, BaseModel)]
        if nested and typing.get_origin(annotation) is not tuple:
            rows += [(k, kind, text, (name, *path)) for k, kind, text, path in _leaves(nested[0], key)]
        else:
            text = " ".join((field.description or "").split()).replace("|", "\\|")
            rows.append((key, _kind(annotation, field.metadata), text, (name,)))
    return rows


def _value(config: Any, path: tuple[str, ...]) -> str:
    for part in path:
        config = getattr(config, part, None) if config is not None else None
    if config is None:
        return "—"
    if isinstance(config, BaseModel):
        config = config.model_dump(by_alias=True)
    if isinstance(config, (dict, list, tuple)):
        return "`" + json.dumps(config, default=str) + "`" if config else "—"
    return f"`{str(config).lower() if isinstance(config, bool) else config}`"


def table() -> str:
    configs = {column: load_config(stack, {}) for stack, column in COLUMNS.items()}
    lines = [
        "| key | type | description | " + " | ".join(COLUMNS.values()) + " |",
        "|---|---|---|" + "---|" * len(COLUMNS),
    ]
    for key, default in SCALARS.items():
        value = f"`{default}`" if default else "(from stack name)"
        about = "dev, staging, production or ephemeral; unset: from the stack name"
        lines.append(f"| `{PROJECT}:{key}` | string | {about} | " + " | ".join(value for _ in COLUMNS) + " |")
    for group, model in GROUPS.items():
        for key, kind, text, path in _leaves(model, f"{PROJECT}:{group}"):
            values = [_value(getattr(config, group), path) for config in configs.values()]
            lines.append(f"| `{key}` | {kind} | {text} | " + " | ".join(values) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="rewrite the reference block in README.md")
    args = parser.parse_args(argv)
    generated = table()
    if not args.write:
        sys.stdout.write(generated)
        return 0
    text = README.read_text()
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    README.write_text(f"{head}{BEGIN}\n{generated}{END}{tail}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

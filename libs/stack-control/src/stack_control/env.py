"""The stack's configuration as its processes see it: `.env.example`, overridden by `.env`,
overridden by the environment. One reader for the native stack, the Makefile's commands and the
tests.

Both files are parsed by python-dotenv (quotes and inline comments stripped, as compose's own
parser does), then `${NAME}` and `${NAME:-default}` references are resolved against the merged
result, so a password set in `.env` reaches the URL in `.env.example` that names it. Values from
the environment are taken literally.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from dotenv import dotenv_values
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

FILES = (".env.example", ".env")
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def load_env(root: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    environ = os.environ if environ is None else environ
    from_files: dict[str, str] = {}
    for name in FILES:
        path = root / name
        if path.exists():
            values = dotenv_values(path, interpolate=False)
            from_files.update({k: v for k, v in values.items() if v is not None})
    merged = {**from_files, **environ}

    def resolve(value: str, depth: int = 0) -> str:
        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            found = merged.get(name) or default or ""
            if name in from_files and name not in environ and depth < 5:
                return resolve(found, depth + 1)
            return found

        return _REFERENCE.sub(substitute, value)

    resolved = {k: resolve(v) for k, v in from_files.items()}
    return {**resolved, **environ}


def example_names(root: Path, prefix: str) -> set[str]:
    """The names `.env.example` sets (not the commented-out ones) that start with `prefix`."""
    values = dotenv_values(root / ".env.example", interpolate=False)
    return {name for name in values if name.startswith(prefix)}


def settings_env_names(settings_cls: type[BaseSettings]) -> set[str]:
    """Every environment name a pydantic-settings class reads: prefix + field name, or the
    field's aliases."""
    prefix = str(settings_cls.model_config.get("env_prefix", "")).upper()
    names: set[str] = set()
    for field_name, field in settings_cls.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {str(choice).upper() for choice in alias.choices if isinstance(choice, str)}
        elif isinstance(alias, str):
            names.add(alias.upper())
        else:
            names.add(prefix + field_name.upper())
    return names


def unread_example_names(root: Path, settings_cls: type[BaseSettings], *prefixes: str) -> set[str]:
    """The `.env.example` names with these prefixes that `settings_cls` does not read: none
    should be (a dead name has no effect anywhere). `<PREFIX>PORT` and `<PREFIX>DB_PASSWORD`
    are the stack's own (the published port, the database role's password)."""
    names = set().union(*(example_names(root, prefix) for prefix in prefixes))
    stacks = {f"{prefix}{suffix}" for prefix in prefixes for suffix in ("PORT", "DB_PASSWORD")}
    return names - stacks - settings_env_names(settings_cls)

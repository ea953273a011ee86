""".env.example: every setting is documented there, and nothing in it is a real secret."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import TypeAdapter

from sandbox.config import SandboxConfig
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
# `NAME=value`, possibly commented out (the two database choices are alternatives).
ASSIGNMENT = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$")
PLACEHOLDER = re.compile(r"<[a-z0-9-]+>")
SAFE_LONG_VALUES = re.compile(r"^(https?|postgresql)://\S+$|^\[[0-9., ]+\]$")


def _variables() -> dict[str, str]:
    found = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = ASSIGNMENT.match(line.strip())
        if match:
            found[match.group(1)] = match.group(2).strip().strip('"')
    return found


def _sandbox_variables() -> set[str]:
    names = set()
    for field in SandboxConfig.model_fields.values():
        choices = getattr(field.validation_alias, "choices", [])
        names |= {choice for choice in choices if isinstance(choice, str) and choice.isupper()}
    return names


def test_every_setting_is_in_env_example() -> None:
    missing = {name.upper() for name in Settings.model_fields} - set(_variables())
    assert not missing, f".env.example lacks {sorted(missing)}"


def test_every_sandbox_variable_is_in_env_example() -> None:
    missing = _sandbox_variables() - set(_variables())
    assert not missing, f".env.example lacks {sorted(missing)}"


def test_env_example_names_only_known_variables() -> None:
    known = {name.upper() for name in Settings.model_fields} | _sandbox_variables()
    unknown = set(_variables()) - known
    assert not unknown, f".env.example names variables nothing reads: {sorted(unknown)}"


def test_every_variable_has_a_comment_above_it() -> None:
    lines = (ROOT / ".env.example").read_text().splitlines()
    for i, line in enumerate(lines):
        if not ASSIGNMENT.match(line):
            continue
        above = i - 1
        while above >= 0 and ASSIGNMENT.match(lines[above]):  # a group of related variables shares one
            above -= 1
        assert above >= 0 and lines[above].startswith("#"), f"no comment above {line!r}"


def test_env_example_holds_no_real_secret() -> None:
    for name, value in _variables().items():
        without_placeholders = PLACEHOLDER.sub("", value)
        pem_markers = re.sub(r"-----(BEGIN|END) (PUBLIC|PRIVATE) KEY-----|\\n", "", without_placeholders)
        if SAFE_LONG_VALUES.match(pem_markers):
            assert not re.search(r"://[^/@\s]*:(?!<)[^/@\s]+@", value), f"{name} has a password in its URL"
            continue
        assert len(pem_markers) <= 20, f"{name}={value!r} looks like a real secret; use a <placeholder>"


def test_secret_settings_have_placeholders_not_values() -> None:
    variables = _variables()
    secret_fields = [name for name, field in Settings.model_fields.items()
                     if "SecretStr" in str(field.annotation)]
    assert secret_fields
    for name in secret_fields:
        value = variables[name.upper()]
        assert PLACEHOLDER.search(value), f"{name.upper()} should be a <placeholder>, not {value!r}"


def test_documented_defaults_equal_the_code_defaults() -> None:
    variables = _variables()
    for name, field in Settings.model_fields.items():
        value = variables[name.upper()]
        if field.is_required() or field.default is None or PLACEHOLDER.search(value):
            continue
        assert TypeAdapter(field.annotation).validate_python(value) == field.default, name.upper()

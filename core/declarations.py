"""The one reader of declaration files (sources, contracts): YAML in, typed models out, or a ConfigError.

Each declaration kind is a set of frozen pydantic dataclasses (`connectors.declarations`,
`schemas.contract`): the models say what is allowed and hold every default, once. This module turns a
pydantic ValidationError into the house's error: the file and the key path of the first bad key, e.g.
`sources/tax.yaml: streams.taxpayers.pagination.style: unknown value 'cursr'; expected one of ...`.

A check that spans several keys raises `Invalid(path, message)` from the model's `__post_init__`; its
`path` is relative to the model, so the error still names the exact key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import ConfigDict, Strict, TypeAdapter, ValidationError

from core.errors import ConfigError

# Unknown keys are refused; values are not coerced from another kind ("30" is not a number),
# except an int where a float is declared.
FORBID = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
Str = Annotated[str, Strict()]
Int = Annotated[int, Strict()]
Float = Annotated[float, Strict()]
Bool = Annotated[bool, Strict()]

T = TypeVar("T")

_KINDS = {
    "string_type": "str", "int_type": "int", "int_from_float": "int", "float_type": "float", "bool_type": "bool",
    "dict_type": "a mapping", "model_attributes_type": "a mapping", "dataclass_type": "a mapping",
    "dataclass_exact_type": "a mapping", "list_type": "list", "tuple_type": "list",
}


class Invalid(ValueError):
    """A check across keys failed; `path` names the offending key relative to the model checked."""

    def __init__(self, path: str | Sequence[str | int], message: str) -> None:
        super().__init__(message)
        self.path: tuple[str | int, ...] = (path,) if isinstance(path, str) else tuple(path)
        self.message = message


def key_path(loc: Sequence[str | int], data: object, absent_last: bool = True) -> str:
    """`streams.taxpayers.pagination[0]` from a pydantic location, walking the document itself.

    pydantic puts union tags and dataclass names into the location; a step that is not a key (or
    index) of the document at that point is one of those, and is left out; the last step is kept
    when absent only if `absent_last` (the error is about a key that is missing or unknown).
    """
    parts: list[str] = []
    node: Any = data
    for i, step in enumerate(loc):
        last = i == len(loc) - 1 and absent_last
        if isinstance(node, Mapping):
            if step not in node and not last:
                continue
            parts.append(f".{step}" if parts else str(step))
            node = node.get(step)
        elif isinstance(node, list | tuple) and isinstance(step, int):
            parts.append(f"[{step}]")
            node = node[step] if step < len(node) else None
        elif i == len(loc) - 1 or node is not None:
            if isinstance(step, int):
                parts.append(f"[{step}]")
            elif step not in ("[key]",):
                parts.append(f".{step}" if parts else str(step))
            node = None
    return "".join(parts)


def _message(error: Mapping[str, Any]) -> tuple[tuple[str | int, ...], str, bool]:
    """The location, the message, and whether the location's last step names a key the document lacks."""
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    loc = tuple(error["loc"])
    if kind == "value_error" and isinstance(ctx.get("error"), Invalid):
        invalid: Invalid = ctx["error"]
        return loc + invalid.path, invalid.message, bool(invalid.path)
    if kind == "value_error":
        return loc, str(ctx.get("error", error["msg"])), False
    if kind == "missing":
        return loc, "required key is missing", True
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        return loc, "unknown key", True
    if kind == "union_tag_invalid":
        # a callable discriminator is named for its key (`style()`, `type_()`)
        key = str(ctx.get("discriminator", "")).strip("'").removesuffix("()").rstrip("_")
        expected = str(ctx.get("expected_tags", "")).replace(chr(39), "")
        return (*loc, key), f"unknown value {ctx.get('tag')!r}; expected one of {expected}", True
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace(chr(39), "").replace(" or ", ", ")
        return loc, f"{value!r} is not one of {expected}", False
    if kind in _KINDS:
        return loc, f"expected {_KINDS[kind]}, got {type(value).__name__} {value!r}", False
    return loc, str(error["msg"]), False


def validate(kind: type[T] | Any, data: object, where: str, context: Mapping[str, Any] | None = None) -> T:
    """`data` (a parsed YAML document) as the model `kind`; a bad document raises ConfigError naming `where`."""
    adapter: TypeAdapter[T] = _adapter(kind)
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: (top): expected a mapping, got {type(data).__name__}")
    try:
        return adapter.validate_python(data, context=dict(context or {}))
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        # the most specific error first: pydantic reports a failed union member's errors in order
        loc, message, absent_last = _message(errors[0])
        at = key_path(loc, data, absent_last) or "(top)"
        raise ConfigError(f"{where}: {at}: {message}") from None


_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def _adapter(kind: Any) -> TypeAdapter[Any]:
    if kind not in _ADAPTERS:
        _ADAPTERS[kind] = TypeAdapter(kind)
    return _ADAPTERS[kind]


def json_schema(kind: Any, title: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) editors use for a declaration kind: the same model that validates."""
    schema = _adapter(kind).json_schema(mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": title,
            **{k: v for k, v in schema.items() if k != "title"}}


def read_yaml(path: Path, where: str) -> object:
    """A YAML file's document; a missing file or bad YAML raises ConfigError naming `where`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{where}: no such file") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not valid YAML: {exc}") from None

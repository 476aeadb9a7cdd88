"""The service registry: ``services.yaml`` read into validated :class:`ServiceSpec` objects.

Loading returns a :class:`Registry` or raises :class:`RegistryError` holding every problem in the
file, each one line: ``FILE: <service>.<field>: <message>``. Each service is validated on its own
(after ``defaults`` are merged under it) so that one broken service cannot hide the others.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from bot.close_names import close_names
from bot.freezes import FreezeWindow
from bot.service_spec import ServiceSpec, SlackUserId
from bot.settings import describe_error
from bot.strategy_specs import StrategyKind, check_dns_label

_TOP_LEVEL_KEYS = ("admins", "defaults", "freezes", "services")
_EXPECTED_KEYS = ", ".join(_TOP_LEVEL_KEYS)
_KIND_VALUES = frozenset(kind.value for kind in StrategyKind)
_KINDS = ", ".join(sorted(_KIND_VALUES))
_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a services file; ``str()`` gives ``FILE: where: message``."""

    source: str  # the file as the user named it
    where: str  # ``service.dotted.field``, or a place outside services such as ``line 3``
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.where}: {self.message}"


class RegistryError(ValueError):
    """A services file that cannot be used; ``problems`` lists everything found, in order."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(map(str, self.problems)))


class UnknownService(KeyError):  # noqa: N818 -- a lookup miss, as KeyError itself is named
    """No service of that name; ``suggestions`` holds close names, best first."""

    def __init__(self, name: str, suggestions: Sequence[str]) -> None:
        super().__init__(name)
        self.name = name
        self.suggestions = tuple(suggestions)

    def __str__(self) -> str:
        hint = f" (did you mean: {', '.join(self.suggestions)}?)" if self.suggestions else ""
        return f"unknown service {self.name!r}{hint}"


class Fleet(BaseModel):
    """What ``services.yaml`` says about every service at once, beside ``services``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    admins: tuple[SlackUserId, ...] = Field(
        default=(), description="Slack user ids who may break a freeze with `force`"
    )
    freezes: tuple[FreezeWindow, ...] = Field(
        default=(), description="freeze windows of every service"
    )


class Registry:
    """The services the bot may release, by name, in the order of the file."""

    def __init__(
        self, services: Mapping[str, ServiceSpec], *, source: str, fleet: Fleet | None = None
    ) -> None:
        self._services = MappingProxyType(dict(services))
        self.source = source
        self.fleet = fleet or Fleet()

    @property
    def admins(self) -> frozenset[str]:
        """The Slack user ids of the admins, who may break a freeze."""
        return frozenset(self.fleet.admins)

    @property
    def freezes(self) -> tuple[FreezeWindow, ...]:
        """The freeze windows of every service (each service may add its own)."""
        return self.fleet.freezes

    @property
    def services(self) -> Mapping[str, ServiceSpec]:
        """Read-only view of name → spec."""
        return self._services

    def get(self, name: str) -> ServiceSpec:
        """The spec of ``name``; raises :class:`UnknownService` with close names otherwise."""
        try:
            return self._services[name]
        except KeyError:
            close = close_names(name.lower(), self._services)
            raise UnknownService(name, close) from None

    def __contains__(self, name: object) -> bool:
        return name in self._services

    def __iter__(self) -> Iterator[str]:
        return iter(self._services)

    def __len__(self) -> int:
        return len(self._services)


def load_registry(path: str | Path, *, default_window: timedelta | None = None) -> Registry:
    """Read and validate a services file; problems are reported against ``path`` as given.

    Raises:
        RegistryError: the file cannot be read, or anything in it is wrong.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise RegistryError([Problem(source, "file", f"cannot read it: {reason}")]) from err
    return parse_registry(text, source, default_window=default_window)


def parse_registry(
    text: str, source_name: str = "services.yaml", *, default_window: timedelta | None = None
) -> Registry:
    """Validate the text of a services file. Purely computational, no I/O.

    ``default_window`` (the bot's CANARYBOT_DEFAULT_WINDOW) is the observation window of
    services that name none, here or in ``defaults``.

    Raises:
        RegistryError: every problem in the file, services in file order.
    """
    problems: list[Problem] = []
    document = _parse_yaml(text, source_name, problems)
    services, defaults = _split_document(document, source_name, problems)
    fleet = _validate_fleet(document, source=source_name, out=problems)
    if default_window is not None:
        defaults = _deep_merge({"observation": {"window": default_window}}, defaults)
    specs: dict[str, ServiceSpec] = {}
    for name, body in services.items():
        spec = _validate_service(name, body, defaults=defaults, source=source_name, out=problems)
        if spec is not None:
            specs[spec.name] = spec
    if problems:
        raise RegistryError(problems)
    return Registry(specs, source=source_name, fleet=fleet)


class _StrictLoader(yaml.SafeLoader):
    """A SafeLoader that notes duplicate keys, which PyYAML would silently let the last win."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.duplicates: list[tuple[int, str]] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            # Keys brought in by `<<: *anchor` may be overridden; only repeated keys are errors.
            if key_node.tag == _MERGE_TAG or not isinstance(key_node, yaml.ScalarNode):
                continue
            if key_node.value in seen:
                self.duplicates.append((key_node.start_mark.line + 1, key_node.value))
            seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


def _parse_yaml(text: str, source: str, out: list[Problem]) -> object:
    """The YAML document; duplicate keys go to ``out``, a syntax error ends the load at once."""
    loader = _StrictLoader(text)
    try:
        document = loader.get_single_data()
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "top level"
        problem = getattr(err, "problem", None) or str(err)
        context = getattr(err, "context", None)
        if context and problem.startswith("but "):  # "but found another document" needs its why
            problem = f"{context}, {problem}"
        raise RegistryError([Problem(source, where, f"not valid YAML: {problem}")]) from None
    finally:
        loader.dispose()
    for line, key in loader.duplicates:
        out.append(Problem(source, f"line {line}", f"duplicate key {key!r}"))
    return document


def _split_document(
    document: object, source: str, out: list[Problem]
) -> tuple[dict[Any, Any], dict[str, Any]]:
    """The ``services`` and ``defaults`` mappings, noting what is wrong around them."""
    if not isinstance(document, dict):
        empty = "the file is empty; " if document is None else ""
        out.append(Problem(source, "top level", f"{empty}expected a mapping with a 'services' key"))
        return {}, {}
    for key in document:
        if key not in _TOP_LEVEL_KEYS:
            out.append(
                Problem(source, str(key), f"unknown top-level key (expected: {_EXPECTED_KEYS})")
            )
    defaults = document.get("defaults") or {}
    if not isinstance(defaults, dict):
        out.append(Problem(source, "defaults", "expected a mapping of service fields"))
        defaults = {}
    for key in list(defaults):
        if key not in ServiceSpec.model_fields or key == "name":
            out.append(Problem(source, f"defaults.{key}", "unknown field"))
            del defaults[key]
    services = document.get("services")
    if not isinstance(services, dict):
        message = "expected a mapping of name to service"
        if "services" not in document:
            message = "required"
        out.append(Problem(source, "services", message))
        return {}, defaults
    return services, defaults


def _validate_service(
    name: object, body: object, *, defaults: dict[str, Any], source: str, out: list[Problem]
) -> ServiceSpec | None:
    """Validate one service, appending its problems to ``out``; None when it has any."""
    name = str(name)  # YAML may read a key such as `on` or `123` as a bool or an int
    try:
        check_dns_label(name)
    except ValueError as err:
        out.append(Problem(source, name, str(err).replace("bad name", "bad service name", 1)))
        return None
    if body is not None and not isinstance(body, dict):
        out.append(Problem(source, name, "expected a mapping of service fields"))
        return None
    if body and "name" in body:
        out.append(Problem(source, f"{name}.name", "unknown field: a service is named by its key"))
        return None
    merged = _deep_merge(defaults, body or {})
    try:
        return ServiceSpec.model_validate({**merged, "name": name})
    except ValidationError as err:
        out.extend(Problem(source, *_locate(name, detail)) for detail in err.errors())
        return None


def _validate_fleet(document: object, *, source: str, out: list[Problem]) -> Fleet | None:
    """The top-level ``admins`` and ``freezes``, appending their problems to ``out``."""
    if not isinstance(document, dict):
        return None
    given = {key: document[key] for key in ("admins", "freezes") if key in document}
    try:
        return Fleet.model_validate(given)
    except ValidationError as err:
        for detail in err.errors():
            where, message = _locate("", detail)
            out.append(Problem(source, where.removeprefix("."), message))
        return None


def _locate(service: str, detail: ErrorDetails) -> tuple[str, str]:
    """Where (``service.dotted.field``) and what one pydantic error is, in a user's words."""
    loc = list(detail["loc"])
    # pydantic names the chosen union member in loc ("strategy", "istio", ...): drop it.
    if loc[:1] == ["strategy"] and len(loc) > 1 and loc[1] in _KIND_VALUES:
        del loc[1]
    message = describe_error(detail)
    if detail["type"] in ("union_tag_invalid", "union_tag_not_found"):
        loc.append("kind")
        given = detail["input"]
        tag = given.get("kind") if isinstance(given, dict) else None
        message = f"required (one of: {_KINDS})"
        if tag is not None:
            message = f"unknown strategy {str(tag)!r} (expected one of: {_KINDS})"
    where = service
    for part in loc:
        where += f"[{part}]" if isinstance(part, int) else f".{part}"
    return where, message


def _deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` laid over ``base``: mappings merge key by key, anything else is replaced."""
    merged = dict(base)
    for key, value in override.items():
        below = merged.get(key)
        if isinstance(below, Mapping) and isinstance(value, Mapping):
            merged[key] = _deep_merge(below, value)
        else:
            merged[key] = value
    return merged

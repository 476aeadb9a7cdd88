"""Label and field selectors as list and watch requests carry them (`?labelSelector=…`).

Label grammar as in k8s.io/apimachinery/pkg/labels: comma-separated requirements, each
``key``, ``!key``, ``key=v``, ``key==v``, ``key!=v``, ``key in (a,b)`` or ``key notin (a,b)``.
Parsing is purely computational; a malformed selector raises `SelectorError`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]

_KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_VALUE = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SET_RE = re.compile(rf"^({_KEY})\s+(in|notin)\s*\(([^()]*)\)$")
_CMP_RE = re.compile(rf"^({_KEY})\s*(==|!=|=)\s*({_VALUE})$")
_EXISTS_RE = re.compile(rf"^(!?)\s*({_KEY})$")


class SelectorError(ValueError):
    """A selector the API server would refuse (400 BadRequest)."""


@dataclass(frozen=True)
class Requirement:
    """One clause of a label selector."""

    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!"
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        """Whether a label set satisfies this clause (``!=``/notin accept a missing key)."""
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("=", "in"):
            return present and value in self.values
        return not present or value not in self.values


def _split(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [part.strip() for part in parts]


def parse_labels(text: str) -> list[Requirement]:
    """The requirements of a label selector string (empty: matches everything)."""
    if not text.strip():
        return []
    requirements = []
    for clause in _split(text):
        if match := _SET_RE.match(clause):
            values = tuple(v.strip() for v in match.group(3).split(",") if v.strip())
            if not values:
                raise SelectorError(f"unable to parse requirement: {clause!r}: empty values")
            requirements.append(Requirement(match.group(1), match.group(2), values))
        elif match := _CMP_RE.match(clause):
            op = "=" if match.group(2) in ("=", "==") else "!="
            requirements.append(Requirement(match.group(1), op, (match.group(3),)))
        elif match := _EXISTS_RE.match(clause):
            requirements.append(Requirement(match.group(2), match.group(1) or "exists"))
        else:
            raise SelectorError(f"unable to parse requirement: {clause!r}")
    return requirements


def matches_labels(requirements: list[Requirement], labels: dict[str, str] | None) -> bool:
    """Whether every requirement holds for `labels`."""
    return all(req.matches(labels or {}) for req in requirements)


# Field selectors the API server supports, per resource (besides metadata.name/namespace).
_FIELDS: dict[str, tuple[str, ...]] = {
    "pods": (
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ),
    "events": (
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ),
    "namespaces": ("status.phase",),
    "replicasets": ("status.replicas",),
}


@dataclass(frozen=True)
class FieldRequirement:
    """One clause of a field selector: ``path=value`` or ``path!=value``."""

    path: str
    equal: bool
    value: str

    def matches(self, obj: Obj) -> bool:
        """Whether the object's field (missing reads as "") compares as required."""
        current: Any = obj
        for part in self.path.split("."):
            current = current.get(part) if isinstance(current, dict) else None
        actual = "" if current is None else str(current)
        if self.path == "source" and isinstance(obj.get("source"), dict):
            actual = str(obj["source"].get("component", ""))
        return (actual == self.value) == self.equal


def parse_fields(text: str, plural: str) -> list[FieldRequirement]:
    """The requirements of a field selector for resource `plural`."""
    if not text.strip():
        return []
    allowed = ("metadata.name", "metadata.namespace", *_FIELDS.get(plural, ()))
    requirements = []
    for clause in _split(text):
        match = re.match(r"^([A-Za-z.]+)\s*(==|!=|=)\s*(.*)$", clause)
        if match is None:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{clause}'")
        path, op, value = match.groups()
        if path not in allowed:
            raise SelectorError(f"field label not supported: {path}")
        requirements.append(FieldRequirement(path, op != "!=", value))
    return requirements


def object_filter(label_selector: str, field_selector: str, plural: str) -> Callable[[Obj], bool]:
    """One predicate for both selectors of a request; raises SelectorError if either is bad."""
    labels = parse_labels(label_selector)
    fields = parse_fields(field_selector, plural)

    def match(obj: Obj) -> bool:
        return matches_labels(labels, obj.get("metadata", {}).get("labels")) and all(
            req.matches(obj) for req in fields
        )

    return match


def format_label_selector(selector: Obj | None) -> str:
    """A LabelSelector ({matchLabels, matchExpressions}) as a string (``app=x,track in (a)``)."""
    if not selector:
        return "<none>"
    parts = [f"{key}={value}" for key, value in sorted(selector.get("matchLabels", {}).items())]
    for expr in selector.get("matchExpressions", []):
        op, key, values = expr.get("operator", ""), expr.get("key", ""), expr.get("values", [])
        if op == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts) if parts else "<none>"


def label_selector_matches(selector: Obj | None, labels: dict[str, str] | None) -> bool:
    """Whether a LabelSelector object selects `labels` (an empty selector selects all)."""
    text = format_label_selector(selector)
    return matches_labels([] if text == "<none>" else parse_labels(text), labels)

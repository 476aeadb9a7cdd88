"""Just enough of Kubernetes' protobuf encoding to read what kubectl sends that way.

kubectl's typed clients (`kubectl create namespace`, `create deployment`, …) send request
bodies as `application/vnd.kubernetes.protobuf` whatever the server prefers. Decoding every
kind would need all of Kubernetes' .proto files; the simulator decodes the one kind whose
content is only metadata — Namespace — and refuses the rest with 415 (use `create -f`).
Purely computational.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]

MAGIC = b"k8s\x00"


class ProtobufError(ValueError):
    """A body the simulator cannot decode."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs: varints as int, length-delimited as bytes."""
    fields: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            fields.append((number, value))
        elif wire == 2:
            length, pos = _varint(data, pos)
            fields.append((number, data[pos : pos + length]))
            pos += length
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4  # fixed64 / fixed32: nothing of ours uses them
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
    return fields


def _text(value: int | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _map_entry(value: int | bytes) -> tuple[str, str]:
    entry = dict(_fields(value)) if isinstance(value, bytes) else {}
    return _text(entry.get(1, b"")), _text(entry.get(2, b""))


def _object_meta(data: bytes) -> Obj:
    meta: Obj = {}
    names = {1: "name", 2: "generateName", 3: "namespace"}
    for number, value in _fields(data):
        if number in names and _text(value):  # proto2 sends empty optional strings too
            meta[names[number]] = _text(value)
        elif number in (11, 12):
            key, text = _map_entry(value)
            meta.setdefault("labels" if number == 11 else "annotations", {})[key] = text
    return meta


def decode(body: bytes) -> Obj:
    """The JSON form of a protobuf-encoded object; ProtobufError for kinds it cannot read."""
    if not body.startswith(MAGIC):
        raise ProtobufError("missing the k8s protobuf magic number")
    envelope = dict(_fields(body[len(MAGIC) :]))
    header = envelope.get(1, b"")
    type_meta = dict(_fields(header)) if isinstance(header, bytes) else {}
    api_version, kind = _text(type_meta.get(1, b"")), _text(type_meta.get(2, b""))
    raw = envelope.get(2, b"")
    if kind != "Namespace" or not isinstance(raw, bytes):
        raise ProtobufError(f"the simulator decodes protobuf only for Namespace, not {kind!r}")
    obj: Obj = {"apiVersion": api_version, "kind": kind, "metadata": {}}
    for number, value in _fields(raw):
        if number == 1 and isinstance(value, bytes):
            obj["metadata"] = _object_meta(value)
        elif number == 2 and isinstance(value, bytes):
            finalizers = [_text(v) for n, v in _fields(value) if n == 1]
            obj["spec"] = {"finalizers": finalizers} if finalizers else {}
    return obj

"""Names the controllers make up: pod-template-hash values and random name suffixes.

Kubernetes hashes a pod template with FNV-32a (plus the Deployment's collisionCount) and
encodes the decimal hash with `rand.SafeEncodeString`, whose alphabet has no vowels so a
name never spells a word. The simulator hashes canonical JSON of the template instead of Go's
struct dump: the value differs from a real cluster's but is just as stable.
"""

from __future__ import annotations

import json
import random
from typing import Any

SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

_FNV32_OFFSET = 0x811C9DC5
_FNV32_PRIME = 0x01000193


def fnv32a(data: bytes) -> int:
    """The 32-bit FNV-1a hash of `data`."""
    value = _FNV32_OFFSET
    for byte in data:
        value = ((value ^ byte) * _FNV32_PRIME) & 0xFFFFFFFF
    return value


def safe_encode(text: str) -> str:
    """`text` with each character mapped into the safe alphabet, as rand.SafeEncodeString."""
    return "".join(SAFE_ALPHABET[ord(char) % len(SAFE_ALPHABET)] for char in text)


def pod_template_hash(template: dict[str, Any], collision_count: int | None = None) -> str:
    """The `pod-template-hash` label value for a Deployment's pod template."""
    data = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    if collision_count is not None:
        # controller.ComputeHash writes the count as 8 bytes, little-endian uint32 first.
        data += (collision_count & 0xFFFFFFFF).to_bytes(4, "little") + bytes(4)
    return safe_encode(str(fnv32a(data)))


def random_suffix(rng: random.Random, length: int = 5) -> str:
    """A generateName-style suffix (`utilrand.String(5)`): safe-alphabet characters."""
    return "".join(rng.choice(SAFE_ALPHABET) for _ in range(length))

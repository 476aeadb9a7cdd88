"""How simulated pods behave: what tests and the playground set to provoke failures.

Rules match a container image by shell-style pattern; the first match wins, and an image no
rule matches becomes Ready after `default_ready_after_s`.
"""

from __future__ import annotations

import fnmatch
import threading
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class PodFate(StrEnum):
    """What happens to a pod running a matching image."""

    READY = "ready"  # Running, and Ready after `ready_after_s`
    NEVER_READY = "never-ready"  # Running, readiness probe never passes
    CRASH_LOOP = "crash-loop"  # container exits; waiting reason CrashLoopBackOff, restarts grow
    IMAGE_PULL_ERROR = "image-pull-error"  # waiting reason ErrImagePull, then ImagePullBackOff


@dataclass(frozen=True)
class PodRule:
    """Pods whose image matches `image` (fnmatch pattern) meet `fate`."""

    image: str
    fate: PodFate
    ready_after_s: float | None = None  # overrides the default delay for READY

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PodRule:
        """A rule from the control API's JSON ({"image": …, "fate": …, "ready_after_s": …})."""
        delay = data.get("ready_after_s")
        return cls(image=str(data["image"]), fate=PodFate(data.get("fate", "ready")),
                   ready_after_s=None if delay is None else float(delay))  # fmt: skip


@dataclass
class PodBehaviour:
    """The simulator's current rules; thread-safe, changed at run time through the control API."""

    default_ready_after_s: float = 0.2
    rules: list[PodRule] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def fate_of(self, image: str) -> tuple[PodFate, float]:
        """The fate of a pod running `image`, and after how many seconds a READY one is Ready."""
        with self._lock:
            for rule in self.rules:
                if fnmatch.fnmatchcase(image, rule.image):
                    delay = rule.ready_after_s
                    return rule.fate, self.default_ready_after_s if delay is None else delay
            return PodFate.READY, self.default_ready_after_s

    def set_rules(
        self, rules: list[PodRule], *, default_ready_after_s: float | None = None
    ) -> None:
        """Replace the rules (and optionally the default delay)."""
        with self._lock:
            self.rules = list(rules)
            if default_ready_after_s is not None:
                self.default_ready_after_s = default_ready_after_s

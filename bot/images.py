"""Container image references: what `start image=…` accepts. Pure, no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass

# The reference grammar of the distribution project (docker/distribution reference.go).
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"  # noqa: E501
_REFERENCE = re.compile(
    rf"^(?:(?P<domain>{_DOMAIN})/)?(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?$"
)


class BadImageError(ValueError):
    """An image reference a release cannot use; the message says why and what would do."""


@dataclass(frozen=True)
class ImageRef:
    """A parsed, pinned image reference."""

    text: str
    repository: str
    tag: str | None
    digest: str | None


def parse_image(text: str) -> ImageRef:
    """Parse an image reference and insist that it is pinned (a tag other than latest, or a digest).

    A release of `latest` could not be told apart from what runs already, nor rolled back to.
    """
    candidate = text.strip()
    match = _REFERENCE.match(candidate)
    if not candidate or match is None or len(candidate) > 255:
        raise BadImageError(f"bad image reference {text!r}: expected e.g. reg/fop-gate:2026-11-22")
    domain, path = match["domain"], match["path"]
    # Like distribution: a first component is a registry only with a dot, a port or as
    # localhost; otherwise it is part of the (lowercase) repository path.
    is_registry = domain and ("." in domain or ":" in domain or domain == "localhost")
    if domain and not is_registry and not re.fullmatch(_COMPONENT, domain):
        raise BadImageError(f"bad image reference {text!r}: repository names are lowercase")
    repository = f"{domain}/{path}" if domain else path
    tag, digest = match["tag"], match["digest"]
    if digest is None and tag in (None, "latest"):
        raise BadImageError(
            f"image {text!r} is not pinned: give a version tag or a digest "
            "(reg/fop-gate:2026-11-22 or reg/fop-gate@sha256:…), not latest"
        )
    return ImageRef(text=candidate, repository=repository, tag=tag, digest=digest)

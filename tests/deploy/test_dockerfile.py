"""The Dockerfile, read with a real parser: a slim, non-root final stage that runs
`canarybot serve`, checks /healthz, and carries the runtime dependencies and nothing more."""

from __future__ import annotations

import ast
import json
import re
import sys
import tomllib
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml
from dockerfile_parse import DockerfileParser
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from bot.settings import SlackSettings

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())
# What `canarybot serve` imports: the product, not the simulator or the demo.
PRODUCT = ("bot", "handlers", "k8s")
OURS = {"bot", "handlers", "k8s", "sim", "playground"}

Instruction = dict[str, Any]


def stages() -> list[list[Instruction]]:
    """The Dockerfile's stages, each its instructions from its FROM on."""
    parsed: list[list[Instruction]] = []
    for instruction in DockerfileParser(path=str(ROOT / "Dockerfile")).structure:
        if instruction["instruction"] == "FROM":
            parsed.append([])
        if parsed and instruction["instruction"] != "COMMENT":
            parsed[-1].append(instruction)
    return parsed


@pytest.fixture(scope="module")
def final() -> list[Instruction]:
    """The stage the image is."""
    return stages()[-1]


def values(stage: list[Instruction], kind: str) -> list[str]:
    """The values of the stage's `kind` instructions, in order."""
    return [i["value"] for i in stage if i["instruction"] == kind]


def the_port_variable() -> str:
    """The environment variable the bot reads its HTTP port from."""
    alias = SlackSettings.model_fields["http_port"].validation_alias
    assert isinstance(alias, str)
    return alias


def test_it_builds_in_a_separate_stage_on_python_slim(final: list[Instruction]) -> None:
    *builders, _ = stages()
    assert builders, "a single stage would ship the build tools"
    assert values(final, "FROM") == ["python:3.11-slim"]
    assert all(values(b, "FROM")[0].startswith("python:3.11-slim ") for b in builders)


def test_it_runs_as_a_numeric_non_root_user_the_deployment_names(final: list[Instruction]) -> None:
    user = values(final, "USER")[-1]
    assert re.fullmatch(r"[1-9]\d*", user), "numeric, so runAsNonRoot can check it"
    documents = yaml.safe_load_all((ROOT / "deploy" / "deployment.yaml").read_text())
    deployment = next(d for d in documents if d["kind"] == "Deployment")
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == int(user)


def test_the_entrypoint_is_canarybot_serve(final: list[Instruction]) -> None:
    assert [json.loads(v) for v in values(final, "ENTRYPOINT")] == [["canarybot"]]
    assert [json.loads(v) for v in values(final, "CMD")] == [["serve"]]
    assert "canarybot" in PYPROJECT["project"]["scripts"]


def test_the_healthcheck_asks_healthz_on_the_port_the_bot_listens_on(
    final: list[Instruction],
) -> None:
    (check,) = values(final, "HEALTHCHECK")
    port = the_port_variable()
    assert "/healthz" in check
    assert f"os.environ.get('{port}','8080')" in check
    env = " ".join(values(final, "ENV"))
    assert f"{port}=8080" in env
    assert "CANARYBOT_HTTP_HOST=0.0.0.0" in env
    assert values(final, "EXPOSE") == ["8080"]


def test_the_runtime_stage_installs_no_dev_dependencies(final: list[Instruction]) -> None:
    assert not [r for r in values(final, "RUN") if "pip" in r], "the runtime stage runs no pip"
    copies = values(final, "COPY")
    assert copies
    assert all(c.startswith("--from=builder /opt/canarybot ") for c in copies)
    installs = [r for stage in stages() for r in values(stage, "RUN") if "pip install" in r]
    assert installs
    assert not [r for r in installs if re.search(r"\[|-e\b|-r\b|--group", r)]
    extras = PYPROJECT["project"]["optional-dependencies"]
    dev = {Requirement(r).name for group in extras.values() for r in group} - {"canarybot"}
    for install in installs:
        assert not [name for name in dev if name in install], install


def third_party_imports() -> Iterator[tuple[str, str]]:
    """(file, top-level module) of every import in the product that is neither ours nor
    the standard library's."""
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    top = module.partition(".")[0]
                    if top not in OURS and top not in sys.stdlib_module_names:
                        yield str(path.relative_to(ROOT)), top


def installed_with(requirements: list[str]) -> set[str]:
    """The distributions pip installs for `requirements`, without extras: their closure."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in seen or (requirement.marker and not requirement.marker.evaluate({"extra": ""})):
            continue
        seen.add(name)
        todo.extend(Requirement(r) for r in metadata.requires(name) or [])
    return seen


def test_the_runtime_dependencies_cover_every_package_the_bot_imports() -> None:
    runtime = installed_with(PYPROJECT["project"]["dependencies"])
    providers = metadata.packages_distributions()
    missing = {
        f"{path}: {module}"
        for path, module in third_party_imports()
        if not {canonicalize_name(d) for d in providers.get(module, [])} & runtime
    }
    assert not missing, "the image would lack these: add them to [project] dependencies"

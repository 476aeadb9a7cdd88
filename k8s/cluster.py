"""A thin, typed adapter over the kubernetes client: reads and guarded writes of raw objects.

Objects are the API's JSON as dicts. Every write of an existing object sends the
resourceVersion it was read at; `modify` re-reads and re-decides when the cluster says someone
else wrote first. Client errors become `k8s.errors` here and nowhere else.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any, cast

import urllib3
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_random

from k8s.errors import (
    ClusterError,
    ConflictError,
    ForbiddenError,
    InvalidError,
    NotFoundError,
    UnavailableError,
)
from k8s.resources import Resource

Obj = dict[str, Any]
_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
_TIMEOUT_S = 15.0


class Cluster:
    """One cluster context: what the strategies read and write through."""

    def __init__(self, api_client: k8s_client.ApiClient, *, name: str = "") -> None:
        """Wrap a configured ApiClient; `name` (the context) appears in error messages."""
        self._api = api_client
        self.name = name

    def get(self, res: Resource, namespace: str, name: str) -> Obj:
        """The object; NotFoundError when it does not exist."""
        return self._call("GET", res, namespace, name)

    def find(self, res: Resource, namespace: str, name: str) -> Obj | None:
        """The object, or None when it does not exist."""
        try:
            return self.get(res, namespace, name)
        except NotFoundError:
            return None

    def select(self, res: Resource, namespace: str, *, selector: str = "") -> list[Obj]:
        """Objects of `res` in `namespace` matching the label selector, sorted by name."""
        query = [("labelSelector", selector)] if selector else []
        items: list[Obj] = self._call("GET", res, namespace, query=query).get("items") or []
        return sorted(items, key=lambda o: str(o["metadata"]["name"]))

    def create(self, res: Resource, namespace: str, body: Obj) -> Obj:
        """Create `body` in `namespace`."""
        return self._call("POST", res, namespace, body=body)

    def replace(self, res: Resource, namespace: str, body: Obj) -> Obj:
        """Replace the object; its metadata.resourceVersion guards against lost updates."""
        if not body.get("metadata", {}).get("resourceVersion"):
            raise ValueError("replace needs the resourceVersion the object was read at")
        return self._call("PUT", res, namespace, body["metadata"]["name"], body=body)

    def delete(self, res: Resource, namespace: str, name: str) -> None:
        """Delete the object (and, by the garbage collector, what it owns); gone is fine."""
        try:
            self._call("DELETE", res, namespace, name, query=[("propagationPolicy", "Background")])
        except NotFoundError:
            return

    def modify(
        self, res: Resource, namespace: str, name: str, change: Callable[[Obj], bool]
    ) -> Obj:
        """Read the object, let `change` edit it in place, and write it back guarded.

        `change` returns False when the object is already as wanted: nothing is written. On a
        conflict the object is read again and `change` decides again on the fresh copy.
        """

        @retry(
            retry=retry_if_exception_type(ConflictError),
            stop=stop_after_attempt(6),
            wait=wait_random(0.01, 0.2),
            reraise=True,
        )
        def attempt() -> Obj:
            current = self.get(res, namespace, name)
            if not change(current):
                return current
            return self.replace(res, namespace, current)

        return attempt()

    def _call(
        self,
        method: str,
        res: Resource,
        namespace: str,
        name: str = "",
        *,
        query: list[tuple[str, str]] | None = None,
        body: Obj | None = None,
    ) -> Obj:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            request = self._api.param_serialize(
                method=method,
                resource_path=res.path(namespace, name),
                query_params=query or [],
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
            )
            response = self._api.call_api(*request, _request_timeout=_TIMEOUT_S)
            response.read()  # type: ignore[no-untyped-call]
            # "object" makes the client hand back the JSON as plain dicts and lists.
            return cast(Obj, self._api.response_deserialize(response, {"2XX": "object"}).data)
        except ApiException as err:
            verb = _VERBS.get(method) or ("get" if name else "list")
            raise _translate(err, verb=verb, res=res, namespace=namespace, name=name) from err
        except (urllib3.exceptions.HTTPError, OSError) as err:
            host = self._api.configuration.host
            raise UnavailableError(f"the Kubernetes API at {host} did not answer: {err}") from err


def _translate(
    err: ApiException, *, verb: str, res: Resource, namespace: str, name: str
) -> ClusterError:
    """One of our errors for the client's, with the server's own message."""
    message = _status_message(err)
    what = f'{res.qualified} "{name}"' if name else res.qualified
    if err.status == 404:
        return NotFoundError(f"{what} not found in namespace {namespace!r}")
    if err.status == 403:
        return ForbiddenError(
            verb=verb, resource=res.qualified, namespace=namespace, detail=message
        )
    if err.status == 409:
        return ConflictError(message)
    if err.status == 422:
        return InvalidError(f"the cluster rejected {what}: {message}")
    if err.status in (401,):
        return UnavailableError(f"the Kubernetes API refused the bot's credentials: {message}")
    return UnavailableError(f"the Kubernetes API failed to {verb} {what}: {message}")


def _status_message(err: ApiException) -> str:
    try:
        status = json.loads(err.body or "{}")
    except ValueError:
        return str(err.reason or err.status)
    return str(status.get("message") or err.reason or err.status)


def connect(*, kubeconfig: str | None, context: str | None) -> Cluster:
    """A Cluster for `context` in `kubeconfig`; in a pod with neither, the in-cluster config."""
    try:
        if kubeconfig is None and context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            configuration = k8s_client.Configuration()
            k8s_config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration
            )
            return Cluster(k8s_client.ApiClient(configuration), name="in-cluster")
        api = k8s_config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, context=context
        )
    except (ConfigException, OSError) as err:
        where = kubeconfig or "the default kubeconfig"
        raise ClusterError(f"cannot use {where} (context {context or 'current'}): {err}") from err
    return Cluster(api, name=context or "current")

"""Is the Kubernetes API answering? One cheap ``GET /version`` a context, for readiness probes.

``/version`` needs no RBAC grant (every identity may read it), so the probe asks nothing of
the bot's ServiceAccount beyond what it has. Each context keeps one API client, made on first
use like :func:`k8s.cluster.connect` makes the strategies' (in-cluster config in a pod without
a kubeconfig); a context whose kubeconfig cannot be read is tried again at the next probe.
"""

from __future__ import annotations

import os
import threading

import urllib3
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from k8s.errors import ClusterError, UnavailableError


class ApiProbe:
    """``GET /version`` on the API server of each kube context, bounded by `timeout_s`."""

    def __init__(self, *, kubeconfig: str | None, timeout_s: float = 2.0) -> None:
        """Probe through `kubeconfig` (None: the default one, or in-cluster in a pod)."""
        self._kubeconfig = kubeconfig
        self._timeout_s = timeout_s
        self._clients: dict[str | None, k8s_client.ApiClient] = {}
        self._lock = threading.Lock()

    def version(self, context: str | None) -> str:
        """The API server's version (``v1.31.2``) for `context` (None: the current one).

        Raises `UnavailableError` when it does not answer within the timeout or answers with
        an error, and `ClusterError` when the kubeconfig cannot be used.
        """
        api = self._client(context)
        try:
            info = k8s_client.VersionApi(api).get_code(_request_timeout=self._timeout_s)
        except ApiException as err:
            raise UnavailableError(f"GET /version answered {err.status} {err.reason}") from err
        except (urllib3.exceptions.HTTPError, OSError) as err:
            host = api.configuration.host
            raise UnavailableError(f"the Kubernetes API at {host} did not answer: {err}") from err
        return str(info.git_version)

    def close(self) -> None:
        """Drop every client's connections."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for api in clients:
            api.close()  # type: ignore[no-untyped-call]

    def _client(self, context: str | None) -> k8s_client.ApiClient:
        with self._lock:
            if context not in self._clients:
                self._clients[context] = _new_client(self._kubeconfig, context)
            return self._clients[context]


def _new_client(kubeconfig: str | None, context: str | None) -> k8s_client.ApiClient:
    try:
        if kubeconfig is None and context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            configuration = k8s_client.Configuration()
            k8s_config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration
            )
            return k8s_client.ApiClient(configuration)
        api: k8s_client.ApiClient = k8s_config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, context=context
        )
    except (ConfigException, OSError) as err:
        where = kubeconfig or "the default kubeconfig"
        raise ClusterError(f"cannot use {where} (context {context or 'current'}): {err}") from err
    return api

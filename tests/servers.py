"""Real servers for tests: on a free loopback port, stopped by the fixture that made them.

They live in the product now (:mod:`playground.servers`, which the playground runs too); these
names stay here so that tests import them as they always did.
"""

from __future__ import annotations

from playground.servers import PrometheusServer as PrometheusServer
from playground.servers import RedisServer as RedisServer
from playground.servers import free_port as free_port
from playground.servers import stop_process as stop_process
from playground.servers import unconfigured_environment as unconfigured_environment
from playground.servers import wait_until as wait_until

"""local-slack, the Slack emulator, as a real server for tests.

It lives in the product now (:mod:`playground.local_slack`, whose docstring documents the
emulator); these names stay here so that tests import them as they always did.
"""

from __future__ import annotations

from playground.local_slack import ALICE as ALICE
from playground.local_slack import BINARY as BINARY
from playground.local_slack import BOB as BOB
from playground.local_slack import CAROL as CAROL
from playground.local_slack import RELEASES as RELEASES
from playground.local_slack import LocalSlack as LocalSlack
from playground.local_slack import LocalSlackError as LocalSlackError
from playground.local_slack import LogEntry as LogEntry
from playground.local_slack import SlackChannel as SlackChannel
from playground.local_slack import SlackMessage as SlackMessage
from playground.local_slack import SlackUser as SlackUser

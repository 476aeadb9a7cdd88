"""deploy/slack-app-manifest.yaml declares the command the bot listens for, the modes it runs
in, and exactly the bot scopes its Web API calls need: a new call without its scope fails here."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_sdk import WebClient

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "deploy" / "slack-app-manifest.yaml"
# Where the bot calls Slack: the front door, the workers and the composition root.
CALLERS = sorted([*ROOT.glob("handlers/*.py"), *ROOT.glob("bot/*.py")])
REQUEST_URL = "https://canarybot.example.com/slack/events"

# Each Web API method the bot calls, and the bot scope Slack's reference gives for it.
SCOPE_OF = {
    "chat_postMessage": "chat:write",
    "chat_update": "chat:write",
    "chat_postEphemeral": "chat:write",
    # slack_sdk's upload: files.getUploadURLExternal, then files.completeUploadExternal.
    "files_upload_v2": "files:write",
    "usergroups_users_list": "usergroups:read",
}
# Not a method call: what slash commands need.
COMMANDS_SCOPE = "commands"
# Every method of the real client.
WEB_API = {
    name for name, value in vars(WebClient).items() if callable(value) and not name.startswith("_")
}
CALL = re.compile(r"\.(\w+)\s*\(")
# A method named in a string: api_call("conversations.join"). One passed on in a variable (an
# override forwarding to super()) names no method of its own.
NAMED_CALL = re.compile(r"\.api_call\(\s*(?:api_method\s*=\s*)?[\"']([\w.]+)[\"']")
COMMAND = re.compile(r"\.command\(\s*[\"'](/[\w-]+)[\"']")


def web_api_calls(source: str) -> set[str]:
    """The Web API methods `source` calls, as `client.chat_postMessage(` and the like, or by
    name through `api_call` (``chat.postMessage`` read as ``chat_postMessage``)."""
    named = {name.replace(".", "_") for name in NAMED_CALL.findall(source)}
    return {name for name in CALL.findall(source) if name in WEB_API} | named


def called_by_the_bot() -> set[str]:
    """Every WebClient method called anywhere in handlers/ and bot/."""
    return set().union(*(web_api_calls(path.read_text()) for path in CALLERS))


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    """The manifest as Slack reads it."""
    loaded: dict[str, Any] = yaml.safe_load(MANIFEST.read_text())
    return loaded


def test_the_scan_finds_web_api_calls_and_nothing_else() -> None:
    source = """
        self._client.chat_postMessage(channel=channel, **card.payload())
        client.files_upload_v2 (channel=ref.channel, content=png)
        client.api_call("conversations.join", json={})
        return super().api_call(api_method, **kwargs)
        store.redis.set("key", "value"); reply.send(message); client.chat_update
    """
    assert web_api_calls(source) == {"chat_postMessage", "files_upload_v2", "conversations_join"}


def test_every_web_api_method_the_bot_calls_has_a_known_scope() -> None:
    called = called_by_the_bot()
    assert called, "the scan found no Slack call at all: has the code moved?"
    unknown = called - SCOPE_OF.keys()
    assert not unknown, f"add the bot scope of {sorted(unknown)} to SCOPE_OF and the manifest"


def test_the_bot_scopes_are_exactly_what_its_calls_need(manifest: dict[str, Any]) -> None:
    needed = {SCOPE_OF[method] for method in called_by_the_bot() & SCOPE_OF.keys()}
    declared = manifest["oauth_config"]["scopes"]["bot"]
    assert len(declared) == len(set(declared)), "a scope is listed twice"
    assert set(declared) == needed | {COMMANDS_SCOPE}


def test_the_slash_command_is_canary_with_a_usage_hint(manifest: dict[str, Any]) -> None:
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == "/canary"
    assert command["usage_hint"]
    assert command["url"] == REQUEST_URL


def test_every_command_the_bot_listens_for_is_declared(manifest: dict[str, Any]) -> None:
    listened = set().union(*(set(COMMAND.findall(path.read_text())) for path in CALLERS))
    declared = {c["command"] for c in manifest["features"]["slash_commands"]}
    assert listened, "the scan found no app.command(...): has the code moved?"
    assert listened == declared


def test_socket_mode_and_interactivity_are_on(manifest: dict[str, Any]) -> None:
    settings = manifest["settings"]
    assert settings["socket_mode_enabled"] is True
    assert settings["interactivity"] == {"is_enabled": True, "request_url": REQUEST_URL}
    assert settings["org_deploy_enabled"] is False
    assert manifest["display_information"]["name"] == "canarybot"
    assert manifest["features"]["bot_user"]["display_name"] == "canarybot"

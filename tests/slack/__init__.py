"""End-to-end tests against local-slack, a Slack emulator (see tests/slack/local_slack.py)."""

"""Tests of how the bot is installed: the kustomize base, the Slack app manifest, the image."""

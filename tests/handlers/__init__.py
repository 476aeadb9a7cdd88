"""Tests of the Slack side: the command grammar, rendering and listeners."""

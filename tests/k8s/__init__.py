"""Tests of the Kubernetes strategies, the engine and the release CLI on the simulator."""

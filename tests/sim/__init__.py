"""Tests of the Kubernetes API simulator."""

"""The benchmark harness behind bench/runner.py, one concern per module."""

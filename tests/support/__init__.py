"""Helpers shared by tests that run the real servers."""

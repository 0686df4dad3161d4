"""Pipelines (ordered stages, runs, approval gates) arrive in a later issue."""

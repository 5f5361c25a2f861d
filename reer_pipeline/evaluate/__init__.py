"""Evaluation: tournaments between programs, adapters and any model URI (no dagster import)."""

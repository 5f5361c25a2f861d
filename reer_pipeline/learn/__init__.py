"""Learning from the person's decisions: a simulated reviewer and the preference model.

No dagster import: `assets/learning.py` is the thin shell around it.
"""

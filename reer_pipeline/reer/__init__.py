"""REER: reverse-engineered reasoning trajectories for top posts, and their trace store.

No dagster import here: the asset in `reer_pipeline.assets` is a thin shell around
`reer.search.mine`; traces live in `reer.store.TraceStore`.
"""

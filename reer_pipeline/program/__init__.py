"""The DSPy drafting program: signatures, modules, packaging, scheduling and topics.
`reer_pipeline.session.drafting_session` puts program, models and scorer together."""

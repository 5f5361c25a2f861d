"""The DSPy drafting program: signatures, modules, packaging, scheduling, topics, and the
drafting session (`session.drafting_session`) that puts program, models and scorer together."""

"""The DSPy drafting program: signatures, modules, packaging, scheduling, topics."""

"""reer_pipeline: learn why a person's best posts worked, and write new ones in that voice."""

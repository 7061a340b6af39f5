"""The models this server serves, by the id clients put in `model`.

Each model has its own engine (and so its own worker thread and context) and its own chat template;
lookups by id are where unknown models become OpenAI's 404 `model_not_found`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import llama_cpp
from openai.types import Model

from .embedding_engine import EmbeddingEngine
from .engine import Engine
from .errors import model_not_found
from .prompt import ChatTemplate

OWNED_BY = "reference-server"


@dataclass(frozen=True)
class ModelSpec:
    """A model to serve: where its GGUF file is and the id clients use for it."""

    path: Path
    id: str


@dataclass
class ServedModel:
    id: str
    engine: Engine
    template: ChatTemplate
    created: int
    fingerprint: str
    embedder: EmbeddingEngine  # its embedding context, created by the first embeddings request

    def card(self) -> Model:
        return Model(id=self.id, object="model", created=self.created, owned_by=OWNED_BY)


class ModelRegistry:
    def __init__(self, models: Sequence[ServedModel]) -> None:
        self._models = {m.id: m for m in models}

    def __iter__(self) -> Iterator[ServedModel]:
        return iter(self._models.values())

    def get(self, model_id: str, *, param: str | None = "model") -> ServedModel:
        try:
            return self._models[model_id]
        except KeyError:
            raise model_not_found(model_id, param=param) from None

    def close(self) -> None:
        for model in self._models.values():
            model.engine.close()
            model.embedder.close()


def load_model(spec: ModelSpec, *, n_ctx: int = 0, threads: int | None = None) -> ServedModel:
    engine = Engine(spec.path, n_ctx=n_ctx, threads=threads)
    template = ChatTemplate(engine.metadata, bos_token=engine.bos_token, eos_token=engine.eos_token)
    stat = spec.path.stat()
    # Changes whenever something that can change outputs for a fixed seed changes.
    identity = f"{spec.path.name}:{stat.st_size}:{llama_cpp.__version__}:{engine.n_ctx}"
    fingerprint = "fp_" + hashlib.sha256(identity.encode()).hexdigest()[:10]
    embedder = EmbeddingEngine(spec.path, metadata=engine.metadata, context_limit=engine.n_ctx, threads=threads)
    return ServedModel(
        id=spec.id,
        engine=engine,
        template=template,
        created=int(stat.st_mtime),
        fingerprint=fingerprint,
        embedder=embedder,
    )

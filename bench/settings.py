"""The benchmark's settings, read from settings.yaml (data there, mechanism here)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SETTINGS_FILE = Path(__file__).with_name("settings.yaml")


@dataclass(frozen=True)
class SingleBudget:
    rounds: int
    max_tokens: int
    prompts: int
    ttft_samples: int  # short requests per contender for time to first token, interleaved


@dataclass(frozen=True)
class LoadBudget:
    clients: list[int]
    runs: int
    max_tokens: int


@dataclass(frozen=True)
class DisconnectBudget:
    runs: int
    clients: int
    max_tokens: int
    patience_s: float  # a client still waiting for its first token after this long gives up
    followup_max_tokens: int


@dataclass(frozen=True)
class HarnessBudget:
    runs: int
    only: list[str]


@dataclass(frozen=True)
class StubBudget:
    runs: int


@dataclass(frozen=True)
class Settings:
    budget_name: str
    prompts: list[str]
    n_ctx: int
    threads: int
    single: SingleBudget
    load: LoadBudget
    disconnect: DisconnectBudget
    harness: HarnessBudget
    stub: StubBudget

    def messages(self, index: int) -> list[dict[str, str]]:
        return [{"role": "user", "content": self.prompts[index % len(self.prompts)]}]


def load_settings(budget: str, path: Path = SETTINGS_FILE) -> Settings:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    chosen = data["budgets"][budget]
    return Settings(
        budget_name=budget,
        prompts=list(data["prompts"]),
        n_ctx=int(data["model"]["n_ctx"]),
        threads=int(data["model"]["threads"]),
        single=SingleBudget(**chosen["single"]),
        load=LoadBudget(**chosen["load"]),
        disconnect=DisconnectBudget(**chosen["disconnect"]),
        harness=HarnessBudget(**chosen["harness"]),
        stub=StubBudget(**chosen["stub"]),
    )

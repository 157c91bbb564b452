"""Typed view of the ``[research]`` settings (documented in ``default_config.toml``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..backends.base import GenerationOptions
from ..config import Config

ProtocolName = Literal["cir", "tools"]
PROTOCOLS: tuple[ProtocolName, ...] = ("cir", "tools")

# The names of the prompt files shipped in ``research/prompts`` (``NAME.txt``); each can be
# replaced by a file of the user's through ``research.prompt_NAME``.
PROMPT_NAMES = ("cir_system", "cir_hint", "tools_system", "report_system", "force_answer")


@dataclass(frozen=True, kw_only=True)
class ResearchSettings:
    """Limits and switches of the research loop. Defaults equal ``default_config.toml``."""

    # CIR: training used at most 32 code blocks and cut each observation to 3000 tokens.
    max_code_blocks: int = 32
    observation_max_tokens: int = 3000
    # Tool calls: RL capped use at 7 per problem, SFT traces had up to 15; leave head-room.
    max_tool_calls: int = 20
    # One backend call generates at most this many tokens; a longer turn simply continues.
    max_tokens_per_turn: int = 4096
    # All tokens the model may generate in one run before it is asked for its answer.
    max_generated_tokens: int = 16384
    # Ask for the answer when fewer than this many tokens of context are left.
    answer_reserve_tokens: int = 2048
    # Longest answer (in tokens) before the run ends with reason "length".
    answer_max_tokens: int = 4096
    # Results a search returns when the model does not say how many (``search.default_results``).
    search_results: int = 5
    # Corrections in a row (prose instead of code, broken tool calls) before forcing the answer.
    max_format_errors: int = 3
    # Optional second pass that writes a cited markdown report.
    report: bool = False
    report_max_tokens: int = 6144
    # Paths of the user's own prompt files, by prompt name; empty means the shipped one.
    prompt_files: dict[str, str] = field(default_factory=dict)
    sampling: GenerationOptions = field(default_factory=GenerationOptions)

    @classmethod
    def from_config(cls, config: Config) -> ResearchSettings:
        """Build from ``[research]`` and ``[sampling]``."""
        section = config.section("research")
        sampling = config.section("sampling")
        seed = sampling.get("seed", -1)
        return cls(
            max_code_blocks=section["max_code_blocks"],
            observation_max_tokens=section["observation_max_tokens"],
            max_tool_calls=section["max_tool_calls"],
            max_tokens_per_turn=section["max_tokens_per_turn"],
            max_generated_tokens=section["max_generated_tokens"],
            answer_reserve_tokens=section["answer_reserve_tokens"],
            answer_max_tokens=section["answer_max_tokens"],
            search_results=config.values.get("search.default_results", 5),
            max_format_errors=section["max_format_errors"],
            report=section["report"],
            report_max_tokens=section["report_max_tokens"],
            prompt_files={name: section[f"prompt_{name}"] for name in PROMPT_NAMES
                          if section.get(f"prompt_{name}")},
            sampling=GenerationOptions(
                temperature=sampling["temperature"], top_p=sampling["top_p"],
                top_k=sampling["top_k"], repeat_penalty=sampling["repeat_penalty"],
                seed=None if seed < 0 else seed),
        )

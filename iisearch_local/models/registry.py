"""The models iisearch-local knows by name, and what it knows about each.

A ``ModelSpec`` holds the facts needed to run a model well (its protocol, recommended sampling,
stop strings, context) and where its quantized weights are published. The repository ids and
file-name patterns are *defaults*: the ``[models.<name>]`` settings in ``default_config.toml``
override them (``spec_with_config``), so a moved or renamed upload never needs a code change.

Wherever a model name is accepted, a local ``.gguf`` file or MLX folder works too; for those the
registry can only guess the spec and protocol from the file name (``spec_for_local_path``,
``guess_protocol``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from ..config import Config
from ..errors import UserFacingError

Protocol = Literal["cir", "tools"]
PROTOCOLS: tuple[str, ...] = ("cir", "tools")
Format = Literal["gguf", "mlx"]
FORMATS: tuple[str, ...] = ("gguf", "mlx")  # the two weight formats a model is published in

# The II-Search models are Qwen3-4B fine-tunes: 32768 positions natively, ~128k with YaRN x4.
NATIVE_CONTEXT = 32768
YARN_FACTOR = 4.0

# Quantizations a static-quant GGUF repo usually carries (mradermacher's set), in size order.
STANDARD_GGUF_QUANTS: tuple[str, ...] = (
    "Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "IQ4_XS", "Q4_K_S", "Q4_K_M",
    "Q5_K_S", "Q5_K_M", "Q6_K", "Q8_0", "f16",
)
# MLX conversions are one repository per precision (mlx-community naming).
STANDARD_MLX_QUANTS: tuple[str, ...] = ("4bit", "6bit", "8bit", "bf16")
QUANT_PLACEHOLDER = "{quant}"

_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9._-]+$")
_SAFE_QUANT = re.compile(r"^[A-Za-z0-9._-]+$")


class UnknownModelError(UserFacingError):
    """A name that is neither a registry model nor an existing local path."""


@dataclass(frozen=True)
class SamplingDefaults:
    """The sampling a model is meant to be run with."""

    temperature: float = 0.6
    top_p: float = 0.95
    top_k: int = 20
    repetition_penalty: float = 1.0
    # Fields whose value is our best reading of the sources rather than a published fact.
    unverified: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelSpec:
    """Everything the app knows about one supported model."""

    name: str
    protocol: Protocol
    description: str
    source_repo: str  # the full-precision Hugging Face repository the quantizations come from
    sampling: SamplingDefaults
    stop: tuple[str, ...]
    gguf_repo: str
    gguf_file: str  # file name inside gguf_repo; ``{quant}`` becomes e.g. Q4_K_M
    mlx_repo: str  # repository id; ``{quant}`` becomes e.g. 4bit
    gguf_quants: tuple[str, ...] = STANDARD_GGUF_QUANTS
    mlx_quants: tuple[str, ...] = STANDARD_MLX_QUANTS
    native_context: int = NATIVE_CONTEXT
    yarn_factor: float = YARN_FACTOR

    @property
    def extended_context(self) -> int:
        """Context length with YaRN rope scaling at ``yarn_factor``."""
        return int(self.native_context * self.yarn_factor)

    def gguf_filename(self, quant: str) -> str:
        """The GGUF file name for a quantization (e.g. ``II-Search-4B.Q4_K_M.gguf``)."""
        return self.gguf_file.replace(QUANT_PLACEHOLDER, quant)

    def mlx_repo_for(self, quant: str) -> str:
        """The MLX repository id for a precision (e.g. ``mlx-community/II-Search-4B-4bit``)."""
        return self.mlx_repo.replace(QUANT_PLACEHOLDER, quant)

    def normalize_quant(self, quant: str, fmt: Format) -> str:
        """Canonical spelling of a typed quantization (``q4_k_m`` -> ``Q4_K_M``, ``4`` -> ``4bit``).

        Unknown names pass through unchanged (a repository may carry more than we list), but
        anything that could escape a file name or URL segment is refused.
        """
        text = quant.strip()
        if fmt == "mlx":
            bits = text.lower().replace("-", "").replace("_", "")
            if bits.isdigit():
                bits = "bf16" if bits == "16" else f"{bits}bit"
            text = bits
        known = self.gguf_quants if fmt == "gguf" else self.mlx_quants
        for candidate in known:
            if candidate.lower() == text.lower():
                return candidate
        if not _SAFE_QUANT.fullmatch(text) or ".." in text:
            raise UserFacingError(f"{quant!r} is not a valid quantization name",
                                  hint=f"Published ones for {self.name}: {', '.join(known)}.")
        return text


# The authors' demo samples with temperature 0.6 and top-p 0.95; top-k 20 is Qwen3's advice for
# thinking mode, and II-Search-4B's repetition penalty 1.1 is unconfirmed (see PROTOCOL.md).
_SAMPLING_CIR = SamplingDefaults(unverified=("top_k",))
_SAMPLING_TOOLS = SamplingDefaults(repetition_penalty=1.1,
                                   unverified=("top_k", "repetition_penalty"))

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="II-Search-4B",
            protocol="tools",
            description="Qwen3-4B fine-tune for multi-hop web research with Qwen3 tool calls.",
            source_repo="Intelligent-Internet/II-Search-4B",
            sampling=_SAMPLING_TOOLS,
            stop=("</tool_call>", "<|im_end|>"),
            gguf_repo="mradermacher/II-Search-4B-GGUF",
            gguf_file="II-Search-4B.{quant}.gguf",
            mlx_repo="mlx-community/II-Search-4B-{quant}",
        ),
        ModelSpec(
            name="II-Search-CIR-4B",
            protocol="cir",
            description="Qwen3-4B fine-tune that researches by writing and running Python code.",
            source_repo="Intelligent-Internet/II-Search-CIR-4B",
            sampling=_SAMPLING_CIR,
            stop=("<end_code>", "<|im_end|>"),
            gguf_repo="mradermacher/II-Search-CIR-4B-GGUF",
            gguf_file="II-Search-CIR-4B.{quant}.gguf",
            mlx_repo="mlx-community/II-Search-CIR-4B-{quant}",
        ),
    )
}


def model_names() -> list[str]:
    """Registry names, sorted."""
    return sorted(MODELS)


def find_spec(name: str) -> ModelSpec | None:
    """The spec registered under ``name`` (case-insensitive), or None."""
    wanted = name.strip().lower()
    for spec in MODELS.values():
        if spec.name.lower() == wanted:
            return spec
    return None


def require_spec(name: str) -> ModelSpec:
    """Like ``find_spec`` but a clear error naming the known models."""
    spec = find_spec(name)
    if spec is None:
        raise UnknownModelError(f"unknown model {name!r}",
                                hint=f"Known models: {', '.join(model_names())} "
                                     "(`iisearch models list`). A local .gguf file or MLX "
                                     "folder can be passed instead of a name.")
    return spec


def _check_repo_id(repo_id: str, key: str) -> str:
    if not _REPO_ID.fullmatch(repo_id) or ".." in repo_id:
        raise UserFacingError(f"{key} = {repo_id!r} is not a repository id like 'owner/name'")
    return repo_id


def _check_file_pattern(pattern: str, key: str) -> str:
    parts = pattern.split("/")
    if pattern.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise UserFacingError(f"{key} = {pattern!r} must be a relative file name inside the repo")
    return pattern


def spec_with_config(spec: ModelSpec, config: Config) -> ModelSpec:
    """The spec with repository ids and file patterns taken from ``[models.<name>]`` settings."""
    prefix = f"models.{spec.name}."

    def setting(field: str, default: str) -> str:
        value = config.values.get(prefix + field, default)
        return value if isinstance(value, str) and value.strip() else default

    gguf_repo = _check_repo_id(setting("gguf_repo", spec.gguf_repo), prefix + "gguf_repo")
    gguf_file = _check_file_pattern(setting("gguf_file", spec.gguf_file), prefix + "gguf_file")
    mlx_repo = setting("mlx_repo", spec.mlx_repo)
    _check_repo_id(mlx_repo.replace(QUANT_PLACEHOLDER, "q"), prefix + "mlx_repo")
    return replace(spec, gguf_repo=gguf_repo, gguf_file=gguf_file, mlx_repo=mlx_repo)


def hub_revision(config: Config) -> str:
    """The branch, tag or commit to pull (``models.revision``)."""
    value = config.values.get("models.revision", "main")
    return value.strip() if isinstance(value, str) and value.strip() else "main"


def spec_for_local_path(path: Path) -> ModelSpec | None:
    """The registry model a local file or folder looks like, judged by its name.

    The longest matching registry name wins, so ``II-Search-CIR-4B.Q8_0.gguf`` is the CIR
    model even though it also contains ``II-Search``. A GGUF file's parent folder counts too
    (our cache keeps files under a folder named after their repository).
    """
    names = [path.name]
    if path.suffix == ".gguf":
        names.append(path.parent.name)
    best: ModelSpec | None = None
    for candidate in names:
        lowered = candidate.lower()
        for spec in MODELS.values():
            token = re.escape(spec.name.lower())
            if re.search(rf"(?<![a-z0-9]){token}(?![a-z0-9])", lowered):
                if best is None or len(spec.name) > len(best.name):
                    best = spec
        if best is not None:
            return best
    return None


def guess_protocol(path: Path) -> Protocol:
    """``"cir"`` when the file or folder name has ``CIR`` as a separate word, else ``"tools"``.

    Used only for local models the registry does not recognise; ``model.protocol`` overrides it.
    """
    names = [path.name] + ([path.parent.name] if path.suffix == ".gguf" else [])
    for name in names:
        if re.search(r"(?<![a-z])cir(?![a-z])", name, flags=re.IGNORECASE):
            return "cir"
    return "tools"


def effective_protocol(config: Config, spec: ModelSpec | None, path: Path | None) -> Protocol:
    """The protocol to speak: ``model.protocol`` if set, else the registry's, else a name guess."""
    override = str(config.values.get("model.protocol", "") or "").strip().lower()
    if override:
        if override not in PROTOCOLS:
            raise UserFacingError(f"model.protocol = {override!r} is not one of: "
                                  f"{', '.join(PROTOCOLS)}",
                                  hint="Leave it empty to take the protocol from the registry.")
        return override  # type: ignore[return-value]
    if spec is not None:
        return spec.protocol
    return guess_protocol(path) if path is not None else "tools"


def pull_command(name: str, fmt: Format, quant: str) -> str:
    """The exact ``iisearch models pull`` command that fetches one quantization."""
    if fmt == "gguf":
        return f"iisearch models pull {name} --quant {quant}"
    bits = "16" if quant == "bf16" else quant.removesuffix("bit")
    if bits.isdigit():
        return f"iisearch models pull {name} --mlx --bits {bits}"
    return f"iisearch models pull {name} --mlx --quant {quant}"

"""``pull_model``: fetch a registry model's weights into the user cache.

A GGUF quantization is one file; an MLX conversion is a folder, pinned to one commit so its
files always belong together. Both go through ``transfer.download_file`` (resumable, verified).
The hub is whatever ``hub.endpoint`` names; with ``hub.offline`` (or ``HF_HUB_OFFLINE``) set,
nothing touches the network and a missing model is a clear error saying what to run.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import Config
from ..errors import UserFacingError
from .cache import gguf_path, is_complete_gguf, is_complete_mlx, mlx_dir, write_complete_marker
from .registry import (
    FORMATS,
    Format,
    ModelSpec,
    hub_revision,
    pull_command,
    require_spec,
    spec_with_config,
)
from .transfer import DownloadError, NoProgress, RemoteFile, TransferProgress, download_file

# Written while an MLX folder is being filled: which commit its files belong to.
PENDING_MARKER = ".iisearch-pending.json"
# Files an MLX model folder needs (weights, config, tokenizer, chat template); top level only.
MLX_FILE_PATTERNS = ("*.safetensors", "*.json", "*.jinja", "*.txt", "*.model", "*.tiktoken")
_TRUTHY = {"1", "true", "yes", "on"}
LOCAL_PATH_HINT = "or pass a local .gguf file or MLX folder instead of a model name"


class HubOfflineError(DownloadError):
    """A download was needed but offline mode forbids the network."""


@dataclass(frozen=True)
class PullResult:
    """What ``pull_model`` fetched (or found already there)."""

    spec: ModelSpec
    fmt: Format
    quant: str
    path: Path
    already_present: bool
    bytes_downloaded: int = 0
    commit: str | None = None


class RichProgress:
    """A ``TransferProgress`` that draws one rich progress bar per file on stderr."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn,
                                   TimeRemainingColumn, TransferSpeedColumn)

        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                  TransferSpeedColumn(), TimeRemainingColumn(),
                                  console=Console(stderr=True))
        self._tasks: dict[str, Any] = {}
        self._current: Any = None
        self._live = False

    def start(self, label: str, *, total: int | None, completed: int) -> None:
        if not self._live:
            self._progress.start()
            self._live = True
        if label in self._tasks:  # a retry of the same file continues its bar
            self._current = self._tasks[label]
            self._progress.update(self._current, total=total, completed=completed)
        else:
            self._current = self._progress.add_task(label, total=total, completed=completed)
            self._tasks[label] = self._current

    def advance(self, nbytes: int) -> None:
        if self._current is not None:
            self._progress.advance(self._current, nbytes)

    def finish(self) -> None:
        self._current = None

    def close(self) -> None:
        if self._live:
            self._progress.stop()
            self._live = False


def offline_reason(config: Config) -> tuple[str, str] | None:
    """Why the network is off limits and how to lift that, or None when downloads are allowed."""
    if config.values.get("hub.offline"):
        return "hub.offline = true", "set hub.offline = false"
    for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(variable, "").strip().lower() in _TRUTHY:
            return f"{variable} is set", f"unset {variable}"
    return None


def _network_errors() -> tuple[type[BaseException], ...]:
    """Exception types meaning "could not talk to the hub", across huggingface_hub versions."""
    import httpx
    from huggingface_hub.errors import FileMetadataError, OfflineModeIsEnabled

    found: list[type[BaseException]] = [httpx.TransportError, OfflineModeIsEnabled,
                                        FileMetadataError, ConnectionError, TimeoutError]
    for module_name, attr in (("httpx2", "TransportError"), ("requests", "RequestException")):
        with contextlib.suppress(ImportError):
            found.append(getattr(__import__(module_name), attr))
    return tuple(found)


@contextlib.contextmanager
def _hub_errors(spec: ModelSpec, fmt: Format, quant: str, repo: str, endpoint: str,
                revision: str) -> Iterator[None]:
    """Turn huggingface_hub and network exceptions into messages that say what to do."""
    from huggingface_hub.errors import (EntryNotFoundError, GatedRepoError, HfHubHTTPError,
                                        RepositoryNotFoundError, RevisionNotFoundError)

    command = pull_command(spec.name, fmt, quant)
    repo_key = f"models.{spec.name}.{'gguf_repo' if fmt == 'gguf' else 'mlx_repo'}"
    try:
        yield
    except GatedRepoError:
        raise DownloadError(f"{repo} on {endpoint} is gated: accept its terms on the hub first",
                            hint="Then log in (`hf auth login`) or set HF_TOKEN, and run "
                                 f"`{command}` again.") from None
    except RepositoryNotFoundError:
        convert = ""
        if fmt == "mlx":
            bits = quant.removesuffix("bit")
            convert = (f" To convert it yourself: `mlx_lm.convert --hf-path {spec.source_repo} -q "
                       f"--q-bits {bits}`, then pass the folder." if bits.isdigit() else "")
        raise DownloadError(f"repository {repo} was not found on {endpoint}",
                            hint=f"If it moved, set {repo_key} in your config "
                                 f"(`iisearch config path`), {LOCAL_PATH_HINT}.{convert}") from None
    except RevisionNotFoundError:
        raise DownloadError(f"revision {revision!r} was not found in {repo}",
                            hint="Check models.revision in your config.") from None
    except EntryNotFoundError:
        if fmt == "gguf":
            raise DownloadError(
                f"{repo} has no file {spec.gguf_filename(quant)} (quantization {quant})",
                hint=f"Quantizations usually published: {', '.join(spec.gguf_quants)}. "
                     f"For example: `{pull_command(spec.name, fmt, 'Q4_K_M')}`.") from None
        raise DownloadError(f"a file listed by {repo} could not be fetched",
                            hint=f"Run `{command}` again later.") from None
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "an error"
        raise DownloadError(f"the model hub at {endpoint} answered {status} for {repo}",
                            hint=f"Run `{command}` again later, {LOCAL_PATH_HINT}.") from None
    except _network_errors() as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DownloadError(f"could not reach the model hub at {endpoint} ({reason})",
                            hint=f"Check your connection and run `{command}` again (a partial "
                                 f"download resumes where it stopped), {LOCAL_PATH_HINT}.") \
            from None
    except OSError as exc:  # after the network errors above, which are OSErrors too
        where = f" ({exc.filename})" if exc.filename else ""
        raise DownloadError(f"could not save the download{where}: {exc.strerror or exc}",
                            hint=f"Check free disk space and permissions, then run `{command}` "
                                 "again.") from None


def _prepare_hub() -> dict[str, str]:
    """Request headers for the hub (user agent, token if the user logged in)."""
    from huggingface_hub import constants
    from huggingface_hub.utils import build_hf_headers

    # huggingface_hub 2.x builds its User-Agent by fetching an "agent harness" list from
    # huggingface.co, whatever endpoint is configured; a local-first app must not do that.
    constants.HF_HUB_DISABLE_TELEMETRY = True
    return build_hf_headers(library_name="iisearch-local")


def _remote_file(repo: str, filename: str, revision: str, endpoint: str,
                 headers: dict[str, str]) -> RemoteFile:
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    url = hf_hub_url(repo, filename, revision=revision, endpoint=endpoint)
    meta = get_hf_file_metadata(url, headers=headers, endpoint=endpoint)
    if not meta.commit_hash or not meta.etag:
        raise DownloadError(f"{endpoint} did not answer like a Hugging Face hub for {repo}",
                            hint="Check hub.endpoint in your config.")
    return RemoteFile(url=meta.location or url, commit=meta.commit_hash, etag=meta.etag,
                      size=meta.size)


def _wanted_mlx_file(name: str) -> bool:
    return "/" not in name and any(fnmatch.fnmatch(name, pattern) for pattern in MLX_FILE_PATTERNS)


def _pull_mlx(spec: ModelSpec, repo: str, folder: Path, revision: str, endpoint: str,
              headers: dict[str, str], progress: TransferProgress) -> tuple[int, str]:
    from huggingface_hub import HfApi

    info = HfApi(endpoint=endpoint, library_name="iisearch-local").model_info(
        repo, revision=revision, files_metadata=True)
    commit = info.sha or revision
    files = sorted(s.rfilename for s in (info.siblings or []) if _wanted_mlx_file(s.rfilename))
    if "config.json" not in files or not any(f.endswith(".safetensors") for f in files):
        raise DownloadError(f"{repo} does not look like an MLX model "
                            "(no config.json or no .safetensors weights)",
                            hint=f"Set models.{spec.name}.mlx_repo to an MLX conversion, "
                                 f"{LOCAL_PATH_HINT}.")
    _forget_other_commit(folder, commit)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / PENDING_MARKER).write_text(json.dumps({"commit": commit, "files": files}), "utf-8")
    downloaded = 0
    for filename in files:
        dest = folder / filename
        if dest.is_file():
            continue  # fetched by an earlier, interrupted run of the same commit
        remote = _remote_file(repo, filename, commit, endpoint, headers)
        downloaded += download_file(remote, dest, endpoint=endpoint, headers=headers,
                                    progress=progress).bytes_downloaded
    write_complete_marker(folder, {"repo": repo, "commit": commit, "files": files})
    (folder / PENDING_MARKER).unlink(missing_ok=True)
    return downloaded, commit


def _forget_other_commit(folder: Path, commit: str) -> None:
    """Drop files an interrupted pull of an *older* commit left, so versions never mix."""
    try:
        pending = json.loads((folder / PENDING_MARKER).read_text("utf-8"))
    except (OSError, ValueError):
        return
    if pending.get("commit") == commit:
        return
    for name in pending.get("files", []):
        if isinstance(name, str) and "/" not in name:
            for leftover in (name, name + ".part", name + ".part.json"):
                (folder / leftover).unlink(missing_ok=True)


def pull_model(name: str, *, quant: str | None = None, fmt: Format = "gguf", config: Config,
               progress: bool | TransferProgress = True) -> PullResult:
    """Download one quantization of registry model ``name`` (no-op when already complete).

    ``quant`` defaults to ``model.quant`` (GGUF) or ``model.mlx_quant`` (MLX). Raises
    ``UserFacingError`` subclasses with the command to retry on every expected failure.
    """
    if fmt not in FORMATS:
        raise UserFacingError(f"unknown model format {fmt!r}; use 'gguf' or 'mlx'")
    if Path(name).expanduser().exists():
        raise UserFacingError(f"{name} is a local path; there is nothing to pull",
                              hint="Local .gguf files and MLX folders can be used directly.")
    spec = spec_with_config(require_spec(name), config)
    default_quant = config.values.get("model.quant" if fmt == "gguf" else "model.mlx_quant")
    quant = spec.normalize_quant(quant or default_quant or "", fmt)
    target = gguf_path(spec, quant) if fmt == "gguf" else mlx_dir(spec, quant)
    if is_complete_gguf(target) if fmt == "gguf" else is_complete_mlx(target):
        return PullResult(spec=spec, fmt=fmt, quant=quant, path=target, already_present=True)

    offline = offline_reason(config)
    if offline is not None:
        reason, remedy = offline
        raise HubOfflineError(
            f"cannot download {spec.name} ({fmt.upper()} {quant}): offline mode is on ({reason})",
            hint=f"To download it, {remedy} and run `{pull_command(spec.name, fmt, quant)}`; "
                 f"{LOCAL_PATH_HINT}.")
    endpoint = str(config.values.get("hub.endpoint") or "https://huggingface.co").rstrip("/")
    revision = hub_revision(config)
    repo = spec.gguf_repo if fmt == "gguf" else spec.mlx_repo_for(quant)
    reporter: TransferProgress = (RichProgress() if progress is True else NoProgress()
                                  if progress is False else progress)
    try:
        with _hub_errors(spec, fmt, quant, repo, endpoint, revision):
            headers = _prepare_hub()
            if fmt == "gguf":
                remote = _remote_file(repo, spec.gguf_filename(quant), revision, endpoint, headers)
                result = download_file(remote, target, endpoint=endpoint, headers=headers,
                                       progress=reporter)
                downloaded, commit = result.bytes_downloaded, remote.commit
            else:
                downloaded, commit = _pull_mlx(spec, repo, target, revision, endpoint, headers,
                                               reporter)
    finally:
        close = getattr(reporter, "close", None)
        if callable(close):
            close()
    return PullResult(spec=spec, fmt=fmt, quant=quant, path=target, already_present=False,
                      bytes_downloaded=downloaded, commit=commit)

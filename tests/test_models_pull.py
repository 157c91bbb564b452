"""Downloading models from a real (local) hub server: resume, verification, clear failures.

Every test talks to ``fake_hub.RunningHub`` on 127.0.0.1 through the real huggingface_hub
metadata calls and our real HTTP transfer; any connection beyond the loopback fails the test.
"""

from __future__ import annotations

import os
import socket

import pytest
from fake_hub import RunningHub, isolate_hub_client

from iisearch_local.config import load_config
from iisearch_local.models import transfer
from iisearch_local.models.cache import COMPLETE_MARKER, is_complete_mlx
from iisearch_local.models.pull import HubOfflineError, pull_model
from iisearch_local.models.resolve import ModelNotDownloadedError, resolve_model
from iisearch_local.models.transfer import DownloadError

GGUF_REPO = "mradermacher/II-Search-CIR-4B-GGUF"
GGUF_FILE = "II-Search-CIR-4B.Q4_K_M.gguf"
MLX_REPO = "mlx-community/II-Search-CIR-4B-4bit"
SIZE = 1_500_000  # several network reads, so an interruption lands mid-file


class Recorder:
    """A TransferProgress that remembers what it was told, optionally pressing Ctrl-C."""

    def __init__(self, interrupt_after: int | None = None) -> None:
        self.starts: list[tuple[str, int | None, int]] = []
        self.advanced = 0
        self.interrupt_after = interrupt_after

    def start(self, label, *, total, completed):
        self.starts.append((label, total, completed))

    def advance(self, nbytes):
        self.advanced += nbytes
        if self.interrupt_after is not None and self.advanced >= self.interrupt_after:
            raise KeyboardInterrupt

    def finish(self):
        pass


@pytest.fixture
def served(tmp_path, monkeypatch):
    refused = isolate_hub_client(monkeypatch, tmp_path)
    monkeypatch.setattr(transfer, "RETRY_BASE_DELAY_SECONDS", 0.0)
    with RunningHub() as running:
        running.refused = refused
        yield running
    assert refused == [], "something tried to reach beyond 127.0.0.1"


@pytest.fixture
def weights(served):
    data = os.urandom(SIZE)
    served.hub.add_repo(GGUF_REPO, {GGUF_FILE: data, "II-Search-CIR-4B.Q8_0.gguf": b"other"})
    return data


def config_for(served, **overrides):
    base = load_config(environ={})
    return base.with_overrides({"hub.endpoint": served.endpoint, **overrides})


def models_dir(tmp_path):
    return tmp_path / "home" / "cache" / "models"


def test_pull_downloads_verifies_and_places_the_gguf(served, weights, tmp_path):
    progress = Recorder()
    result = pull_model("II-Search-CIR-4B", config=config_for(served), progress=progress)
    expected = models_dir(tmp_path) / "mradermacher--II-Search-CIR-4B-GGUF" / GGUF_FILE
    assert result.path == expected and not result.already_present
    assert expected.read_bytes() == weights
    assert sorted(p.name for p in expected.parent.iterdir()) == [GGUF_FILE]  # no .part left
    assert (result.quant, result.fmt, result.bytes_downloaded) == ("Q4_K_M", "gguf", SIZE)
    assert result.commit == served.hub.repos[GGUF_REPO].commit
    assert served.hub.bytes_served == SIZE
    assert [r.path for r in served.hub.content_gets()] == [f"/{GGUF_REPO}/resolve/main/{GGUF_FILE}"]
    assert progress.starts == [(GGUF_FILE, SIZE, 0)] and progress.advanced == SIZE


def test_a_second_pull_finds_the_file_without_any_request(served, weights):
    config = config_for(served)
    pull_model("II-Search-CIR-4B", config=config, progress=False)
    served.hub.requests.clear()
    again = pull_model("II-Search-CIR-4B", config=config, progress=False)
    assert again.already_present and served.hub.requests == []


def test_quant_spelling_is_normalised(served, weights):
    result = pull_model("ii-search-cir-4b", quant="q4_k_m", config=config_for(served),
                        progress=False)
    assert result.path.name == GGUF_FILE


def test_an_interrupted_download_resumes_where_it_stopped(served, weights, tmp_path):
    """Ctrl-C mid-download keeps the partial file; the next pull asks only for the rest."""
    config = config_for(served)
    with pytest.raises(KeyboardInterrupt):
        pull_model("II-Search-CIR-4B", config=config, progress=Recorder(interrupt_after=1))
    folder = models_dir(tmp_path) / "mradermacher--II-Search-CIR-4B-GGUF"
    part = folder / (GGUF_FILE + ".part")
    kept = part.stat().st_size
    assert 0 < kept < SIZE and not (folder / GGUF_FILE).exists()

    served.hub.bytes_served = 0
    progress = Recorder()
    result = pull_model("II-Search-CIR-4B", config=config, progress=progress)
    assert served.hub.content_gets()[-1].range == f"bytes={kept}-"
    assert served.hub.bytes_served == SIZE - kept
    assert result.bytes_downloaded == SIZE - kept
    assert progress.starts == [(GGUF_FILE, SIZE, kept)]
    assert result.path.read_bytes() == weights and not part.exists()


def test_a_dropped_connection_is_resumed_in_the_same_run(served, weights):
    served.hub.drop_after[GGUF_FILE] = 300_000
    result = pull_model("II-Search-CIR-4B", config=config_for(served), progress=False)
    assert [r.range for r in served.hub.content_gets()] == [None, "bytes=300000-"]
    assert served.hub.bytes_served == SIZE
    assert result.path.read_bytes() == weights


def test_a_server_that_ignores_range_still_gives_a_correct_file(served, weights):
    """Resuming against a server that answers 200 with the whole file must not append it."""
    config = config_for(served)
    with pytest.raises(KeyboardInterrupt):
        pull_model("II-Search-CIR-4B", config=config, progress=Recorder(interrupt_after=1))
    served.hub.ignore_range = 1
    result = pull_model("II-Search-CIR-4B", config=config, progress=False)
    assert served.hub.content_gets()[-1].range is not None
    assert result.path.read_bytes() == weights


def test_a_restarted_download_that_drops_again_resumes_correctly(served, weights):
    """Range ignored (full restart), then the connection drops, then Range is honoured."""
    config = config_for(served)
    with pytest.raises(KeyboardInterrupt):
        pull_model("II-Search-CIR-4B", config=config, progress=Recorder(interrupt_after=1))
    served.hub.ignore_range = 1
    served.hub.drop_after[GGUF_FILE] = 250_000
    result = pull_model("II-Search-CIR-4B", config=config, progress=False)
    assert [r.range for r in served.hub.content_gets()][-1] == "bytes=250000-"
    assert result.path.read_bytes() == weights


def test_a_partial_file_of_an_older_version_is_not_continued(served, weights):
    """The file changed on the hub between runs: its old bytes must not prefix the new ones."""
    config = config_for(served)
    with pytest.raises(KeyboardInterrupt):
        pull_model("II-Search-CIR-4B", config=config, progress=Recorder(interrupt_after=1))
    newer = os.urandom(SIZE)
    served.hub.repos[GGUF_REPO].files[GGUF_FILE] = newer
    result = pull_model("II-Search-CIR-4B", config=config, progress=False)
    assert served.hub.content_gets()[-1].range is None
    assert result.path.read_bytes() == newer


def test_damaged_bytes_are_detected_deleted_and_reported(served, weights, tmp_path):
    """The server sends the right length but wrong content: the SHA-256 check must catch it."""
    config = config_for(served)
    served.hub.corrupt.add(GGUF_FILE)
    with pytest.raises(DownloadError) as caught:
        pull_model("II-Search-CIR-4B", config=config, progress=False)
    assert caught.value.message == (f"the downloaded {GGUF_FILE} is damaged (its SHA-256 does "
                                    "not match the hub's); it was deleted")
    folder = models_dir(tmp_path) / "mradermacher--II-Search-CIR-4B-GGUF"
    assert list(folder.iterdir()) == []
    served.hub.corrupt.clear()
    result = pull_model("II-Search-CIR-4B", config=config, progress=False)
    assert result.path.read_bytes() == weights


def test_server_errors_are_retried_then_reported_keeping_progress(served, weights):
    served.hub.fail_gets = [503] * transfer.DOWNLOAD_ATTEMPTS
    with pytest.raises(DownloadError) as caught:
        pull_model("II-Search-CIR-4B", config=config_for(served), progress=False)
    attempts = transfer.DOWNLOAD_ATTEMPTS
    assert caught.value.message == (f"downloading {GGUF_FILE} failed after {attempts} attempts: "
                                    "the server answered 503")
    assert "running the same command again resumes" in caught.value.hint
    assert pull_model("II-Search-CIR-4B", config=config_for(served),
                      progress=False).path.read_bytes() == weights


def test_offline_setting_refuses_before_any_request(served, weights):
    with pytest.raises(HubOfflineError) as caught:
        pull_model("II-Search-CIR-4B", config=config_for(served, **{"hub.offline": True}),
                   progress=False)
    assert caught.value.message == ("cannot download II-Search-CIR-4B (GGUF Q4_K_M): offline "
                                    "mode is on (hub.offline = true)")
    assert caught.value.hint == ("To download it, set hub.offline = false and run `iisearch "
                                 "models pull II-Search-CIR-4B --quant Q4_K_M`; or pass a local "
                                 ".gguf file or MLX folder instead of a model name.")
    assert served.hub.requests == []


def test_hf_hub_offline_variable_is_honoured(served, weights, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubOfflineError) as caught:
        pull_model("II-Search-4B", fmt="mlx", config=config_for(served), progress=False)
    assert "(HF_HUB_OFFLINE is set)" in caught.value.message
    assert "unset HF_HUB_OFFLINE and run `iisearch models pull II-Search-4B --mlx --bits 4`" \
        in caught.value.hint
    assert served.hub.requests == []


def test_an_unreachable_hub_is_a_clear_error(served, tmp_path):
    """Nothing listens on the endpoint's port: no traceback, the command to retry instead."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = load_config(environ={}).with_overrides({"hub.endpoint": f"http://127.0.0.1:{port}"})
    with pytest.raises(DownloadError) as caught:
        pull_model("II-Search-CIR-4B", config=config, progress=False)
    assert caught.value.message.startswith(
        f"could not reach the model hub at http://127.0.0.1:{port} (")
    assert "`iisearch models pull II-Search-CIR-4B --quant Q4_K_M` again" in caught.value.hint


def test_a_missing_quantization_lists_the_usual_ones(served, weights):
    with pytest.raises(DownloadError) as caught:
        pull_model("II-Search-CIR-4B", quant="Q3_K_S", config=config_for(served), progress=False)
    assert caught.value.message == (f"{GGUF_REPO} has no file II-Search-CIR-4B.Q3_K_S.gguf "
                                    "(quantization Q3_K_S)")
    assert "Q4_K_M" in caught.value.hint


def test_a_missing_repository_names_the_setting_to_change(served, weights):
    config = config_for(served, **{"models.II-Search-CIR-4B.gguf_repo": "someone/nothing-here"})
    with pytest.raises(DownloadError) as caught:
        pull_model("II-Search-CIR-4B", config=config, progress=False)
    assert caught.value.message == \
        f"repository someone/nothing-here was not found on {served.endpoint}"
    assert "models.II-Search-CIR-4B.gguf_repo" in caught.value.hint


def test_a_gated_repository_says_to_accept_and_log_in(served, weights):
    served.hub.gated.add(GGUF_REPO)
    with pytest.raises(DownloadError) as caught:
        pull_model("II-Search-CIR-4B", config=config_for(served), progress=False)
    assert caught.value.message == \
        f"{GGUF_REPO} on {served.endpoint} is gated: accept its terms on the hub first"


def test_unknown_names_and_local_paths_are_refused(served, tmp_path):
    with pytest.raises(Exception) as unknown:
        pull_model("II-Search-9B", config=config_for(served), progress=False)
    assert unknown.value.message == "unknown model 'II-Search-9B'"
    local = tmp_path / "mine.gguf"
    local.write_bytes(b"GGUF")
    with pytest.raises(Exception) as path:
        pull_model(str(local), config=config_for(served), progress=False)
    assert path.value.message == f"{local} is a local path; there is nothing to pull"
    assert served.hub.requests == []


MLX_FILES = {
    "config.json": b'{"model_type": "qwen3"}',
    "model.safetensors": os.urandom(400_000),
    "tokenizer.json": b"{}",
    "tokenizer_config.json": b"{}",
    "README.md": b"# card",
    ".gitattributes": b"*.safetensors filter=lfs",
    "extras/unused.safetensors": b"x",
}
MLX_WANTED = ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]


def test_mlx_pull_fetches_the_model_files_of_one_commit(served, tmp_path):
    repo = served.hub.add_repo(MLX_REPO, MLX_FILES)
    config = config_for(served)
    result = pull_model("II-Search-CIR-4B", fmt="mlx", config=config, progress=False)
    folder = models_dir(tmp_path) / "mlx-community--II-Search-CIR-4B-4bit"
    assert result.path == folder and result.commit == repo.commit and result.quant == "4bit"
    assert sorted(p.name for p in folder.iterdir()) == sorted(MLX_WANTED + [COMPLETE_MARKER])
    for name in MLX_WANTED:
        assert (folder / name).read_bytes() == MLX_FILES[name]
    # Every file was fetched at the listed commit, never at a moving branch.
    assert {r.path.split("/resolve/")[1].split("/")[0] for r in served.hub.content_gets()} \
        == {repo.commit}
    assert resolve_model("II-Search-CIR-4B", backend="mlx", config=config).path == folder


def test_an_interrupted_mlx_pull_is_not_installed_and_finishes_later(served, tmp_path):
    served.hub.add_repo(MLX_REPO, MLX_FILES)
    config = config_for(served)
    with pytest.raises(KeyboardInterrupt):  # config.json done, Ctrl-C inside the weights
        pull_model("II-Search-CIR-4B", fmt="mlx", config=config,
                   progress=Recorder(interrupt_after=len(MLX_FILES["config.json"]) + 1))
    folder = models_dir(tmp_path) / "mlx-community--II-Search-CIR-4B-4bit"
    assert (folder / "config.json").is_file() and not is_complete_mlx(folder)
    with pytest.raises(ModelNotDownloadedError):
        resolve_model("II-Search-CIR-4B", backend="mlx", config=config)
    served.hub.requests.clear()
    pull_model("II-Search-CIR-4B", fmt="mlx", config=config, progress=False)
    fetched = [r.path.rsplit("/", 1)[1] for r in served.hub.content_gets()]
    assert "config.json" not in fetched and "model.safetensors" in fetched
    assert served.hub.content_gets("model.safetensors")[0].range is not None
    assert is_complete_mlx(folder)
    assert (folder / "model.safetensors").read_bytes() == MLX_FILES["model.safetensors"]


def test_an_mlx_repo_without_weights_is_refused(served):
    served.hub.add_repo(MLX_REPO, {"README.md": b"nothing here"})
    with pytest.raises(DownloadError) as caught:
        pull_model("II-Search-CIR-4B", fmt="mlx", config=config_for(served), progress=False)
    assert caught.value.message == (f"{MLX_REPO} does not look like an MLX model (no config.json "
                                    "or no .safetensors weights)")


def test_the_tests_cannot_reach_beyond_the_loopback(served):
    """The guard these tests rely on: a lookup or connection elsewhere fails at once."""
    with pytest.raises(OSError, match="forbidden in tests"):
        socket.create_connection(("huggingface.co", 443), timeout=1)
    with pytest.raises(OSError, match="forbidden in tests"):
        socket.socket().connect(("192.0.2.1", 80))
    assert [address[0] for address in served.refused] == ["huggingface.co", "192.0.2.1"]
    served.refused.clear()


def test_an_mlx_pull_interrupted_at_an_older_commit_does_not_mix_versions(served, tmp_path):
    """The repo got a new commit between two runs: files of the old one must be fetched anew."""
    served.hub.add_repo(MLX_REPO, MLX_FILES)
    config = config_for(served)
    with pytest.raises(KeyboardInterrupt):
        pull_model("II-Search-CIR-4B", fmt="mlx", config=config,
                   progress=Recorder(interrupt_after=len(MLX_FILES["config.json"]) + 1))
    updated = {**MLX_FILES, "config.json": b'{"model_type": "qwen3", "v": 2}'}
    old_commit = served.hub.repos[MLX_REPO].commit
    new_commit = served.hub.add_repo(MLX_REPO, updated).commit
    assert new_commit != old_commit
    served.hub.requests.clear()
    result = pull_model("II-Search-CIR-4B", fmt="mlx", config=config, progress=False)
    assert result.commit == new_commit
    assert (result.path / "config.json").read_bytes() == updated["config.json"]
    assert served.hub.content_gets("model.safetensors")[0].range is None  # old part dropped
    assert sorted(p.name for p in result.path.iterdir()) == sorted(MLX_WANTED + [COMPLETE_MARKER])


def test_a_missing_mlx_conversion_says_how_to_make_one(served):
    with pytest.raises(DownloadError) as caught:
        pull_model("II-Search-4B", fmt="mlx", quant="8bit", config=config_for(served),
                   progress=False)
    assert caught.value.message == ("repository mlx-community/II-Search-4B-8bit was not found on "
                                    f"{served.endpoint}")
    assert caught.value.hint.endswith("To convert it yourself: `mlx_lm.convert --hf-path "
                                      "Intelligent-Internet/II-Search-4B -q --q-bits 8`, then "
                                      "pass the folder.")

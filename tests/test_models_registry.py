"""The model registry, the cache layout and name/path resolution (no network involved)."""

from __future__ import annotations

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

import pytest

from iisearch_local.backends import registry as backend_registry
from iisearch_local.config import default_config_text, load_config
from iisearch_local.errors import UserFacingError
from iisearch_local.models.cache import (
    COMPLETE_MARKER,
    installed_gguf_quants,
    installed_mlx_quants,
)
from iisearch_local.models.registry import (
    MODELS,
    find_spec,
    guess_protocol,
    pull_command,
    require_spec,
    spec_for_local_path,
    spec_with_config,
)
from iisearch_local.models.resolve import ModelNotDownloadedError, resolve_model


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("IISEARCH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def config():
    return load_config(environ={})


def models_dir(home: Path) -> Path:
    return home / "cache" / "models"


def install_gguf(home: Path, repo: str, name: str, data: bytes = b"GGUF....") -> Path:
    path = models_dir(home) / repo.replace("/", "--") / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def install_mlx(home: Path, repo: str, *, complete: bool = True) -> Path:
    folder = models_dir(home) / repo.replace("/", "--")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"\0" * 8)
    if complete:
        (folder / COMPLETE_MARKER).write_text("{}")
    return folder


def test_the_two_models_and_their_facts():
    four, cir = MODELS["II-Search-4B"], MODELS["II-Search-CIR-4B"]
    assert (four.protocol, cir.protocol) == ("tools", "cir")
    assert four.source_repo == "Intelligent-Internet/II-Search-4B"
    assert cir.source_repo == "Intelligent-Internet/II-Search-CIR-4B"
    for spec in (four, cir):
        sampling = spec.sampling
        assert (sampling.temperature, sampling.top_p, sampling.top_k) == (0.6, 0.95, 20)
        assert (spec.native_context, spec.extended_context) == (32768, 131072)
    assert four.sampling.repetition_penalty == 1.1
    assert "repetition_penalty" in four.sampling.unverified
    assert cir.sampling.repetition_penalty == 1.0
    assert cir.stop[0] == "<end_code>" and four.stop[0] == "</tool_call>"


def test_registry_defaults_match_the_documented_config():
    """The [models.*] settings and the specs' defaults must never drift apart."""
    documented = tomllib.loads(default_config_text())["models"]
    assert documented["revision"] == "main"
    for name, spec in MODELS.items():
        assert documented[name] == {"gguf_repo": spec.gguf_repo, "gguf_file": spec.gguf_file,
                                    "mlx_repo": spec.mlx_repo}


def test_every_models_setting_has_a_comment_above_it():
    lines = default_config_text().split("\n[models]\n", 1)[1].splitlines()
    checked = 0
    for at, line in enumerate(lines):
        if line.startswith("[") and not line.startswith("[models"):
            break  # the next section belongs to someone else
        if "=" in line and not line.startswith("#"):
            assert lines[at - 1].startswith("#"), line
            checked += 1
    assert checked == 1 + 3 * len(MODELS)


def test_lookup_is_case_insensitive_and_unknown_names_list_the_known(config):
    assert find_spec("ii-search-cir-4b") is MODELS["II-Search-CIR-4B"]
    assert find_spec("Qwen3-4B") is None
    with pytest.raises(UserFacingError) as caught:
        require_spec("II-Search-9B")
    assert "Known models: II-Search-4B, II-Search-CIR-4B" in caught.value.hint


def test_config_overrides_repositories_and_refuses_unsafe_ones(config):
    moved = config.with_overrides({"models.II-Search-4B.gguf_repo": "someone/II-Search-4B-GGUF",
                                   "models.II-Search-4B.gguf_file": "ii-search-4b-{quant}.gguf"})
    spec = spec_with_config(MODELS["II-Search-4B"], moved)
    assert spec.gguf_repo == "someone/II-Search-4B-GGUF"
    assert spec.gguf_filename("Q8_0") == "ii-search-4b-Q8_0.gguf"
    # A repository id that would escape the cache folder is refused, not followed.
    for key, value in (("gguf_repo", "../../etc"), ("gguf_file", "../x-{quant}.gguf"),
                       ("mlx_repo", "/abs/{quant}")):
        bad = config.with_overrides({f"models.II-Search-4B.{key}": value})
        with pytest.raises(UserFacingError) as caught:
            spec_with_config(MODELS["II-Search-4B"], bad)
        assert f"models.II-Search-4B.{key}" in caught.value.message


@pytest.mark.parametrize("typed, fmt, canonical", [
    ("q4_k_m", "gguf", "Q4_K_M"), ("F16", "gguf", "f16"), ("Q4_K_XL", "gguf", "Q4_K_XL"),
    ("4", "mlx", "4bit"), ("8-bit", "mlx", "8bit"), ("16", "mlx", "bf16"), ("BF16", "mlx", "bf16"),
])
def test_quantization_spellings(typed, fmt, canonical):
    assert MODELS["II-Search-4B"].normalize_quant(typed, fmt) == canonical


def test_a_quantization_that_could_escape_a_path_is_refused():
    with pytest.raises(UserFacingError):
        MODELS["II-Search-4B"].normalize_quant("../../x", "gguf")


def test_pull_commands():
    base = "iisearch models pull II-Search-4B"
    assert pull_command("II-Search-4B", "gguf", "Q8_0") == f"{base} --quant Q8_0"
    assert pull_command("II-Search-4B", "mlx", "6bit") == f"{base} --mlx --bits 6"
    assert pull_command("II-Search-4B", "mlx", "bf16") == f"{base} --mlx --bits 16"
    assert pull_command("X", "mlx", "4bit-dwq") == "iisearch models pull X --mlx --quant 4bit-dwq"


@pytest.mark.parametrize("path, expected", [
    ("II-Search-CIR-4B.Q8_0.gguf", "II-Search-CIR-4B"),
    ("ii-search-4b-q4_k_m.gguf", "II-Search-4B"),
    ("mradermacher--II-Search-CIR-4B-GGUF/model.gguf", "II-Search-CIR-4B"),
    ("mlx-community--II-Search-4B-4bit", "II-Search-4B"),
    ("II-Search-4Bx.gguf", None),
    ("qwen3-4b.gguf", None),
])
def test_local_paths_are_recognised_by_name(path, expected):
    spec = spec_for_local_path(Path("/models") / path)
    assert (spec.name if spec else None) == expected


@pytest.mark.parametrize("path, protocol", [
    ("my-CIR-finetune.gguf", "cir"), ("qwen3_cir_v2", "cir"), ("Qwen3-CIR/model.gguf", "cir"),
    ("circle-4b.gguf", "tools"), ("qwen3-4b.gguf", "tools"),
])
def test_protocol_guess_for_unknown_local_models(path, protocol):
    assert guess_protocol(Path("/m") / path) == protocol


def test_a_local_file_is_used_as_is_with_its_protocol(tmp_path, config):
    mine = tmp_path / "my-cir-tune.Q4_K_M.gguf"
    mine.write_bytes(b"GGUF")
    resolved = resolve_model(str(mine), backend="auto", config=config)
    assert (resolved.path, resolved.spec, resolved.protocol) == (mine, None, "cir")
    known = tmp_path / "II-Search-4B.Q8_0.gguf"
    known.write_bytes(b"GGUF")
    resolved = resolve_model(str(known), backend="llama", config=config)
    assert (resolved.spec.name, resolved.protocol) == ("II-Search-4B", "tools")
    forced = resolve_model(str(known), backend="llama",
                           config=config.with_overrides({"model.protocol": "cir"}))
    assert forced.protocol == "cir"
    with pytest.raises(UserFacingError) as caught:
        resolve_model(str(known), backend="llama",
                      config=config.with_overrides({"model.protocol": "json"}))
    assert caught.value.message == "model.protocol = 'json' is not one of: cir, tools"


def test_a_registry_name_resolves_to_the_downloaded_quantization(home, config):
    q4 = install_gguf(home, "mradermacher/II-Search-CIR-4B-GGUF", "II-Search-CIR-4B.Q4_K_M.gguf")
    q8 = install_gguf(home, "mradermacher/II-Search-CIR-4B-GGUF", "II-Search-CIR-4B.Q8_0.gguf")
    resolved = resolve_model("II-Search-CIR-4B", backend="llama", config=config)
    assert (resolved.path, resolved.name, resolved.protocol) == (q4, "II-Search-CIR-4B", "cir")
    assert (resolved.fmt, resolved.quant) == ("gguf", "Q4_K_M")
    assert resolved.spec == MODELS["II-Search-CIR-4B"]
    other = resolve_model("II-Search-CIR-4B", backend="llama",
                          config=config.with_overrides({"model.quant": "q8_0"}))
    assert other.path == q8


def test_a_missing_model_names_the_exact_pull_command(home, config):
    with pytest.raises(ModelNotDownloadedError) as caught:
        resolve_model("II-Search-4B", backend="llama", config=config)
    assert caught.value.message == "II-Search-4B (GGUF Q4_K_M) is not downloaded yet"
    assert caught.value.hint == ("Run `iisearch models pull II-Search-4B --quant Q4_K_M`, or pass "
                                 "a local .gguf file or MLX folder instead of the name.")
    with pytest.raises(ModelNotDownloadedError) as caught:
        resolve_model("II-Search-4B", backend="mlx",
                      config=config.with_overrides({"model.mlx_quant": "8bit"}))
    assert caught.value.hint.startswith("Run `iisearch models pull II-Search-4B --mlx --bits 8`")


def test_an_incomplete_mlx_folder_does_not_count(home, config):
    install_mlx(home, "mlx-community/II-Search-4B-4bit", complete=False)
    with pytest.raises(ModelNotDownloadedError):
        resolve_model("II-Search-4B", backend="mlx", config=config)
    folder = install_mlx(home, "mlx-community/II-Search-4B-4bit")
    assert resolve_model("II-Search-4B", backend="mlx", config=config).path == folder


def test_auto_prefers_the_platform_format_and_falls_back_to_the_other(home, config, monkeypatch):
    gguf = install_gguf(home, "mradermacher/II-Search-4B-GGUF", "II-Search-4B.Q4_K_M.gguf")
    monkeypatch.setattr(backend_registry, "platform_default", lambda: "mlx")
    assert resolve_model("II-Search-4B", backend="auto", config=config).path == gguf
    folder = install_mlx(home, "mlx-community/II-Search-4B-4bit")
    assert resolve_model("II-Search-4B", backend="auto", config=config).path == folder
    monkeypatch.setattr(backend_registry, "platform_default", lambda: "llama")
    assert resolve_model("II-Search-4B", backend="auto", config=config).path == gguf


def test_auto_with_nothing_downloaded_asks_for_the_platform_format(home, config, monkeypatch):
    monkeypatch.setattr(backend_registry, "platform_default", lambda: "mlx")
    with pytest.raises(ModelNotDownloadedError) as caught:
        resolve_model("II-Search-CIR-4B", backend="auto", config=config)
    assert caught.value.message == "II-Search-CIR-4B (MLX 4bit) is not downloaded yet"


def test_unknown_names_and_missing_paths_are_told_apart(config):
    with pytest.raises(UserFacingError) as caught:
        resolve_model("Qwen3-4B", backend="llama", config=config)
    assert caught.value.message == \
        "model 'Qwen3-4B' is not a local file or folder, nor a known model name"
    with pytest.raises(UserFacingError) as caught:
        resolve_model("./none.gguf", backend="llama", config=config)
    assert caught.value.message == "model './none.gguf' is not a local file or folder"


def test_installed_quantizations_ignore_partial_downloads(home):
    spec = MODELS["II-Search-CIR-4B"]
    repo = "mradermacher/II-Search-CIR-4B-GGUF"
    for name in ("II-Search-CIR-4B.Q8_0.gguf", "II-Search-CIR-4B.Q4_K_M.gguf",
                 "II-Search-CIR-4B.Q4_K_XL.gguf"):
        install_gguf(home, repo, name)
    install_gguf(home, repo, "II-Search-CIR-4B.Q6_K.gguf.part")
    install_gguf(home, repo, "II-Search-CIR-4B.Q2_K.gguf", data=b"")  # empty: never finished
    assert installed_gguf_quants(spec) == ["Q4_K_M", "Q8_0", "Q4_K_XL"]
    install_mlx(home, "mlx-community/II-Search-CIR-4B-8bit")
    install_mlx(home, "mlx-community/II-Search-CIR-4B-4bit")
    install_mlx(home, "mlx-community/II-Search-CIR-4B-6bit", complete=False)
    install_mlx(home, "mlx-community/II-Search-4B-bf16")  # the other model's
    assert installed_mlx_quants(spec) == ["4bit", "8bit"]
    assert installed_mlx_quants(MODELS["II-Search-4B"]) == ["bf16"]

"""The other screens: first-run welcome, settings (writes config.toml), the model manager."""

from __future__ import annotations

import os
import tomllib

import pytest
from fake_hub import RunningHub, isolate_hub_client
from tuitest_helpers import ScriptedRuntimes, screen_text, wait_for

from iisearch_local.config import load_config
from iisearch_local.models import transfer
from iisearch_local.tui.app import IISearchApp
from iisearch_local.tui.screens.models import ModelsScreen
from iisearch_local.tui.screens.settings import SettingsScreen, field_id
from iisearch_local.tui.screens.welcome import WelcomeScreen

SIZE = (110, 40)
GGUF_REPO = "mradermacher/II-Search-CIR-4B-GGUF"
GGUF_FILE = "II-Search-CIR-4B.Q4_K_M.gguf"


def user_file(home) -> dict:
    return tomllib.loads((home / "config" / "config.toml").read_text("utf-8"))


@pytest.mark.slow
async def test_welcome_explains_and_accepts_a_local_model(home, tiny_models):
    """First run: no model. A wrong path is explained; the tiny GGUF is taken and loaded."""
    pytest.importorskip("llama_cpp")
    app = IISearchApp(store=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.1)
        assert isinstance(app.screen, WelcomeScreen)
        assert "iisearch models pull II-Search-CIR-4B --quant Q4_K_M" in screen_text(app)
        app.screen.query_one("#local-path").value = str(home / "nothing.gguf")
        await pilot.click("#use-local")
        assert "nothing.gguf does not exist" in screen_text(app)
        assert not (home / "config" / "config.toml").exists()
        app.screen.query_one("#local-path").value = str(tiny_models.gguf_q8_0)
        app.screen.query_one("#local-path").focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, WelcomeScreen), what="welcome gone")
        assert user_file(home)["model"]["name"] == str(tiny_models.gguf_q8_0)
        await wait_for(pilot, lambda: app.controller.runtime is not None, what="the model loaded")
        await wait_for(pilot, lambda: "tiny-qwen3-q8_0 · llama" in screen_text(app),
                       what="the status bar")


async def test_settings_refuse_bad_values_and_save_good_ones(home):
    runtimes = ScriptedRuntimes()
    app = IISearchApp(provider=runtimes, store=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f2")
        assert isinstance(app.screen, SettingsScreen)
        form = app.screen
        form.query_one(f"#{field_id('sampling.temperature')}").value = "warm"
        await pilot.press("ctrl+s")
        assert "Temperature: 'warm' is not a number" in screen_text(app)
        assert not (home / "config" / "config.toml").exists()  # nothing written
        form.query_one(f"#{field_id('sampling.temperature')}").value = "0.3"
        form.query_one(f"#{field_id('search.engines')}").value = "local, zim"
        form.query_one(f"#{field_id('search.offline')}").value = True
        form.query_one(f"#{field_id('search.serper.api_key')}").value = "secret-key"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, SettingsScreen), what="saved")
        saved = user_file(home)
        assert saved["sampling"] == {"temperature": 0.3}
        assert saved["search"]["engines"] == ["local", "zim"] and saved["search"]["offline"] is True
        assert saved["search"]["serper"]["api_key"] == "secret-key"
        assert "backend" not in saved  # unchanged settings are not written
        assert app.controller.config.get("sampling.temperature") == 0.3  # in use at once
        await pilot.pause(0.3)
        assert "OFFLINE" in screen_text(app)


@pytest.fixture
def hub(tmp_path, monkeypatch):
    refused = isolate_hub_client(monkeypatch, tmp_path)
    monkeypatch.setattr(transfer, "RETRY_BASE_DELAY_SECONDS", 0.0)
    with RunningHub() as running:
        yield running
    assert refused == [], "something tried to reach beyond 127.0.0.1"


async def test_model_manager_pulls_with_progress_and_switches_model(hub, tmp_path):
    home = tmp_path / "home"
    data = os.urandom(3_000_000)
    hub.hub.add_repo(GGUF_REPO, {GGUF_FILE: data})
    config = load_config(environ={}).with_overrides({"hub.endpoint": hub.endpoint})
    app = IISearchApp(config=config, provider=ScriptedRuntimes(), store=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        await pilot.pause(0.5)
        assert isinstance(app.screen, ModelsScreen)
        assert "Nothing downloaded yet" in screen_text(app)
        await pilot.click("#pull")
        await wait_for(pilot, lambda: "downloaded:" in screen_text(app), timeout=30,
                       what="the download")
        screen = app.screen
        assert screen.progress.snapshot()[1:] == (len(data), len(data))  # progress reached 100%
        path = home / "cache" / "models" / GGUF_REPO.replace("/", "--") / GGUF_FILE
        assert path.read_bytes() == data
        await pilot.pause(0.1)
        rows = [line.split() for line in screen_text(app).splitlines() if " gguf " in line]
        assert any(r[1:4] == ["II-Search-CIR-4B", "gguf", "Q4_K_M"] for r in rows)  # installed
        await pilot.click("#use-installed")
        await wait_for(pilot, lambda: not isinstance(app.screen, ModelsScreen), what="closed")
        saved = user_file(home)
        assert saved["model"] == {"name": "II-Search-CIR-4B", "quant": "Q4_K_M"}
        assert saved["backend"]["name"] == "llama"


async def test_model_manager_explains_a_failed_pull_and_a_bad_local_file(hub, tmp_path):
    """The hub does not have the file, then the typed local path is not a model: both explained."""
    config = load_config(environ={}).with_overrides({"hub.endpoint": hub.endpoint})
    hub.hub.add_repo(GGUF_REPO, {"other.gguf": b"x"})
    app = IISearchApp(config=config, provider=ScriptedRuntimes(), store=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        await pilot.pause(0.5)
        await pilot.click("#pull")
        await wait_for(pilot, lambda: not app.screen.pulling, timeout=30, what="the failure")
        assert "Q4_K_M" in screen_text(app) and "Traceback" not in screen_text(app)
        assert not app.screen.query_one("#pull").disabled
        notes = tmp_path / "notes.txt"
        notes.write_text("not a model", "utf-8")
        app.screen.query_one("#models-local-path").value = str(notes)
        await pilot.click("#use-local")
        assert "notes.txt is not a .gguf file" in screen_text(app)
        assert not (tmp_path / "home" / "config" / "config.toml").exists()

"""iisearch-tui starts on a fresh machine (no model yet), explains itself and quits cleanly."""

from __future__ import annotations

from tuitest_helpers import screen_text

from iisearch_local.tui.app import IISearchApp
from iisearch_local.tui.screens.welcome import WelcomeScreen


async def test_app_starts_without_a_model_and_quits(home):
    app = IISearchApp()  # the real configuration, store and model provider, in an empty home
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.1)
        assert isinstance(app.screen, WelcomeScreen)
        shown = screen_text(app)
        assert "Welcome to iisearch-local" in shown
        assert "II-Search-CIR-4B (GGUF Q4_K_M) is not downloaded yet" in shown
        await pilot.press("ctrl+q")
    assert app.return_code == 0

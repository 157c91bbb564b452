"""iisearch-tui starts, shows its first screen and quits cleanly."""

from __future__ import annotations

from iisearch_local.tui.app import IISearchApp


async def test_app_starts_and_quits():
    app = IISearchApp()
    async with app.run_test(size=(100, 30)) as pilot:
        assert "Welcome to iisearch-local" in str(app.query_one("#welcome").render())
        await pilot.press("ctrl+q")
    assert app.return_code == 0

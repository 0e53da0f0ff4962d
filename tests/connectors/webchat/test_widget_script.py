"""`GET /widget.js`: the script every page view of every customer site loads, served by the web chat's own routes."""

from __future__ import annotations


def test_widget_script_is_javascript_that_sniffing_cannot_turn_into_anything_else(client):
    response = client.get("/widget.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cross-origin-resource-policy"] == "cross-origin"
    assert "data-widget-token" in response.text


def _served(client, path: str) -> tuple[int, str]:
    """The gzipped length and the text of a script, after checking both encodings serve the same cacheable text."""
    response = client.get(path, headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert "max-age" in response.headers["cache-control"]
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "innerHTML" not in response.text
    plain = client.get(path, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.text == response.text
    return int(response.headers["content-length"]), response.text


def test_widget_script_is_small_and_cacheable(client):
    """What every page view of every customer site pays for is the loader: the bubble, under 1.5 KB gzipped."""
    size, text = _served(client, "/widget.js")
    assert size < 1_500
    assert "/widget-chat.js" in text


def test_the_chat_window_loaded_on_first_open_is_small_and_cacheable(client):
    """The chat window, fetched on the first open: under 9.8 KB gzipped for everything it does (two languages,
    attachments both ways, read receipts, the visitor's pages, the rating card, pre-chat and offline forms, unsent
    messages kept through a reload with a retry for refused ones, the visitor's typing, minimise and close)."""
    size, text = _served(client, "/widget-chat.js")
    assert size < 9_800
    assert "OmnihubLoader" in text

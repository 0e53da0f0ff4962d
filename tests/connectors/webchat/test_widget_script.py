"""`GET /widget.js`: the script every page view of every customer site loads, served by the web chat's own routes."""

from __future__ import annotations


def test_widget_script_is_javascript_that_sniffing_cannot_turn_into_anything_else(client):
    response = client.get("/widget.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cross-origin-resource-policy"] == "cross-origin"
    assert "data-widget-token" in response.text


def test_widget_script_is_small_and_cacheable(client):
    """What customer sites pay for is the transfer: under 9 KB gzipped for everything the widget does (two
    languages, attachments both ways, read receipts, the visitor's pages, the rating card)."""
    response = client.get("/widget.js", headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert int(response.headers["content-length"]) < 9_000
    assert "max-age" in response.headers["cache-control"]
    assert "innerHTML" not in response.text
    plain = client.get("/widget.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.text == response.text

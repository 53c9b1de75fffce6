"""What the notify channels share: rendering a message template, and a URL fit to print."""

from __future__ import annotations

from urllib.parse import urlsplit


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: its path and query (tokens) are never printed."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid url>"
    return f"{parts.scheme}://{host}{port}"


def check_http_url(url: str) -> str:
    """Validate a webhook URL without echoing it (it carries a token)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValueError("webhook_url is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("webhook_url must be an http:// or https:// URL with a host")
    return url

import pytest

from filerelay.errors import RoutingError
from filerelay.templates import Template, file_values, safe_relative

VALUES = file_values(
    source="cam",
    relpath="2024/a b/photo.final.jpg",
    size=1234,
    mtime_ns=1_700_000_000 * 10**9,
    detected_at=1_700_000_000.0,
    event_id="e1",
    tags={"team": "vision"},
    steps={"upload": {"key": "k/1", "etag": "abc"}},
)


@pytest.mark.parametrize(
    ("text", "rendered"),
    [
        ("{source}/{relpath}", "cam/2024/a b/photo.final.jpg"),
        ("{name}|{stem}|{ext}|{dir}", "photo.final.jpg|photo.final|jpg|2024/a b"),
        ("{date:%Y/%m/%d}", "2023/11/14"),
        ("{size:08d}", "00001234"),
        ("{tags.team}", "vision"),
        ("{steps.upload.key}", "k/1"),
    ],
)
def test_render(text, rendered):
    assert Template.parse(text).render(VALUES) == rendered


@pytest.mark.parametrize(
    "bad",
    [
        "{event.__class__}",
        "{relpath[0]}",
        "{name!r}",
        "{nope}",
        "{steps.x}",
        "{relpath",
        "{date:%Q",
    ],
)
def test_unsafe_or_unknown_templates_are_rejected(bad):
    with pytest.raises(ValueError):
        Template.parse(bad)


def test_unknown_step_result_fails_at_render():
    with pytest.raises(RoutingError, match=r"steps\.other\.key"):
        Template.parse("{steps.other.key}").render(VALUES)


@pytest.mark.parametrize("bad", ["../x", "a/../../x", "/etc/passwd", ""])
def test_escaping_keys_are_rejected(bad):
    with pytest.raises(RoutingError):
        safe_relative(bad)

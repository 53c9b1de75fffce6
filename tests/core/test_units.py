import pytest

from filerelay.units import parse_duration, parse_size, parse_size_range


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2s", 2.0),
        ("500ms", 0.5),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("7d", 604800.0),
        (3, 3.0),
        ("1.5", 1.5),
    ],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["2x", "", "-1s", "s", True])
def test_bad_durations_name_the_value(bad):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("4096", 4096),
        ("4KiB", 4096),
        ("64MiB", 64 * 2**20),
        ("1GB", 10**9),
        ("1.5KiB", 1536),
        (10, 10),
    ],
)
def test_sizes(text, size):
    assert parse_size(text) == size


def test_bad_size_names_the_value():
    with pytest.raises(ValueError, match="not a size: '12 parsecs'"):
        parse_size("12 parsecs")


@pytest.mark.parametrize(
    ("cond", "inside", "outside"),
    [
        (">=1MiB", [2**20, 2**30], [2**20 - 1]),
        (">1KiB", [1025], [1024]),
        ("<10GB", [0, 10**10 - 1], [10**10]),
        ("<=10", [10], [11]),
        ("1KiB..2KiB", [1024, 2048], [1023, 2049]),
        ("100", [100], [99, 101]),
    ],
)
def test_size_ranges(cond, inside, outside):
    rng = parse_size_range(cond)
    assert all(rng.contains(s) for s in inside)
    assert not any(rng.contains(s) for s in outside)


def test_bad_size_condition():
    with pytest.raises(ValueError, match="size"):
        parse_size_range(">=lots")

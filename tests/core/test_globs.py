import pytest

from filerelay.globs import GlobSet, compile_glob


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("*.jpg", "a.jpg", True),
        ("*.jpg", "x/y/a.jpg", True),
        ("*.jpg", "a.jpeg", False),
        ("**/*.mp4", "v.mp4", True),
        ("**/*.mp4", "a/b/v.mp4", True),
        ("raw/*.csv", "raw/a.csv", True),
        ("raw/*.csv", "raw/x/a.csv", False),
        ("raw/**", "raw/x/a.csv", True),
        ("raw/**/a.csv", "raw/a.csv", True),
        ("data?.txt", "data1.txt", True),
        ("data?.txt", "data/.txt", False),
        ("[ab].txt", "b.txt", True),
        ("[!ab].txt", "b.txt", False),
        ("**", "anything/at/all", True),
        ("/top.txt", "top.txt", True),
    ],
)
def test_glob_rules(pattern, path, matches):
    assert bool(compile_glob(pattern).match(path)) is matches


def test_globset_any_of():
    globs = GlobSet(["*.jpg", "*.png"])
    assert globs.matches("p/x.png")
    assert not globs.matches("p/x.gif")


def test_unclosed_class_is_an_error():
    with pytest.raises(ValueError, match="unclosed"):
        compile_glob("[abc.txt")

"""`rules explain` and `rules schema`: what would run, without running anything."""

from __future__ import annotations

import json

from tests.cli.test_config_errors import run_cli

RULES = """\
sources:
  - {{name: cam, path: "{src}"}}
routes:
  - name: images
    when: {{mime: "image/*", size: ">=8"}}
    steps: [{{copy: {{to: "{out}/img/{{relpath}}"}}}}]
    stop: true
  - name: csv
    when: {{ext: csv}}
    steps: [{{copy: {{to: "{out}/csv/{{relpath}}"}}}}]
"""


def setup(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    (src / "a").mkdir(parents=True)
    (src / "a" / "photo.dat").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 32)
    (src / "a" / "notes.txt").write_text("hello, plain text")
    cfg = tmp_path / "rules.yaml"
    cfg.write_text(RULES.format(src=src, out=out))
    return cfg, src, out


def test_explain_a_matching_and_a_non_matching_file(tmp_path):
    cfg, src, out = setup(tmp_path)
    result = run_cli(
        "rules",
        "explain",
        str(cfg),
        str(src / "a/photo.dat"),
        str(src / "a/notes.txt"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "source cam, relpath a/photo.dat" in lines[0] and "image/png" in lines[0]
    assert lines[1].split() == ["images", "matches"]
    assert "not evaluated: stopped by images" in lines[2]
    assert "text/plain" in lines[3]
    assert "images  no: mime in ['image/*']" in lines[4]
    assert "csv     no: ext in ['csv']" in lines[5]
    assert "no route matches" in lines[6]
    assert not out.exists()  # nothing ran


def test_explain_refuses_a_path_outside_every_source(tmp_path):
    cfg, _src, _out = setup(tmp_path)
    result = run_cli("rules", "explain", str(cfg), "/etc/hostname", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: /etc/hostname: not under any source")


def test_schema_is_json_schema_of_the_config(tmp_path):
    result = run_cli("rules", "schema", cwd=tmp_path)
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert schema["title"] == "filerelay pipeline config"
    assert {"sources", "routes", "connections"} <= set(schema["properties"])

"""The pipeline core imports no Celery: every module of ``filerelay.pipeline`` loads, in a
fresh interpreter, without ``celery``, ``kombu`` or ``filerelay.tasks`` (DESIGN.md, Packages)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import importlib, json, pkgutil, sys
import filerelay.pipeline as package
names = [m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]
for name in names:
    importlib.import_module(name)
loaded = [m for m in sys.modules if m.split(".")[0] in ("celery", "kombu")
          or m == "filerelay.tasks" or m.startswith("filerelay.tasks.")]
print(json.dumps({"modules": names, "forbidden": sorted(loaded)}))
"""


def test_importing_every_pipeline_module_loads_no_celery_kombu_or_tasks() -> None:
    # given a fresh interpreter on this tree
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    # when it imports every module of filerelay.pipeline
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    found = json.loads(done.stdout.splitlines()[-1])
    # then the modules were all there and none of them pulled in the broker side
    assert {"filerelay.pipeline.runner", "filerelay.pipeline.reconciler"} <= set(found["modules"])
    assert found["forbidden"] == []

"""filerelay's benchmark suite: ``python -m bench [--quick] [--only NAME ...]``.

Each scenario (``bench/scenarios/*.py``) runs filerelay and its baselines in the same run
against the same servers, several rounds, and reports median / min / max and the ratio to the
baseline; ``bench/results/latest.json`` and a Markdown table hold the outcome. The shared
parts: :mod:`bench.servers` (tools, SeaweedFS, Redis), :mod:`bench.harness` (processes,
waiting, filerelay deployments), :mod:`bench.report` (statistics and output).
``python -m bench.transport`` compares the embedded transport with Redis.
"""

"""Reports, SLOs and anomaly baselines, all read from the hourly rollups
(:mod:`filerelay.store.rollups`).

``data`` (``RollupReader``: the queries), ``stats`` (histogram percentiles, robust baselines,
trend fits), ``build`` (a report as a JSON-ready dict), ``capacity`` (storage trend, cost,
tiering advice), ``slo`` (attainment, error budget, burn rates), ``anomaly`` (the per
hour-of-week baseline), ``render_text`` / ``render_csv`` / ``render_html`` (the formats),
``schedule`` (scheduled reports sent by the alert evaluator).
"""

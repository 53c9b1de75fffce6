"""The Celery-free core: the runner, the worker runtime, compensation, retry, hooks and the
reconciler.

Nothing here imports Celery, kombu or :mod:`filerelay.tasks`; the tasks decode a message and
call into this package, and whatever sends work to the broker is handed in as a
:class:`~filerelay.pipeline.publisher.WorkPublisher`.
"""

"""What a scenario gets: the mode, a temp dir, the tools, and servers started on first use
(each stopped by pid when the run ends)."""

from __future__ import annotations

import contextlib
import itertools
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from bench import servers
from bench.servers import S3Server, Tools

# Each filerelay run gets its own Redis database, flushed first.
REDIS_DBS = (12, 13, 14)


@dataclass
class Context:
    quick: bool
    tools: Tools
    redis_given: str | None = None
    #: The databases the store scenarios measure (``--db``).
    databases: tuple[str, ...] = ("sqlite", "postgresql")
    #: A PostgreSQL database to fill once and keep (``--pg-database``), else a temporary one.
    pg_database: str | None = None
    stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    _s3: S3Server | None = None
    _redis: str | None = None
    _dbs: itertools.cycle[int] = field(default_factory=lambda: itertools.cycle(REDIS_DBS))
    _names: itertools.count[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        self.workdir = Path(
            self.stack.enter_context(tempfile.TemporaryDirectory(prefix="fr-bench-"))
        )

    def tempdir(self, prefix: str) -> Path:
        """A fresh directory under the run's temp dir."""
        return Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=self.workdir))

    @property
    def s3(self) -> S3Server:
        if self._s3 is None:
            weed = self.tools.get("weed")
            assert weed is not None
            self._s3 = self.stack.enter_context(servers.seaweedfs(weed, self.workdir / "weed"))
        return self._s3

    def bucket(self, prefix: str) -> str:
        """A new, empty bucket."""
        return self.s3.make_bucket(f"{prefix}-{next(self._names)}")

    def redis_url(self) -> str:
        """A Redis database URL of its own for one filerelay run, flushed."""
        if self._redis is None:
            self._redis = self.stack.enter_context(
                servers.redis_server(self.workdir / "redis", self.redis_given)
            )
        return servers.redis_db(self._redis, next(self._dbs))

    def close(self) -> None:
        self.stack.close()

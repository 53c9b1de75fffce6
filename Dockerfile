# filerelay's image: a non-root user, and a root filesystem that may be mounted read-only.
# The only writable places it needs are the state dir (a volume: the watcher's outbox lives
# there) and /tmp (a tmpfs: the worker's metrics files). See docs/deployment.md#the-image.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY filerelay ./filerelay
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[postgres]'

FROM python:3.11-slim
# A fixed uid/gid, so that volumes, bind mounts and secret files can be given to it.
ARG FILERELAY_UID=10001
RUN groupadd --system --gid "${FILERELAY_UID}" filerelay \
 && useradd --system --uid "${FILERELAY_UID}" --gid filerelay --no-create-home \
      --home-dir /var/lib/filerelay --shell /usr/sbin/nologin filerelay \
 && install -d -o filerelay -g filerelay -m 0700 /var/lib/filerelay
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index /wheels/*.whl
ENV FILERELAY_STATE_DIR=/var/lib/filerelay \
    HOME=/var/lib/filerelay \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# A named volume mounted here starts with this folder's owner and mode (0700, filerelay).
WORKDIR /app
USER filerelay:filerelay
ENTRYPOINT ["filerelay"]
CMD ["--help"]

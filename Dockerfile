FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY filerelay ./filerelay
RUN pip install --no-cache-dir '.[postgres]' flower
ENV FILERELAY_STATE_DIR=/var/lib/filerelay
ENTRYPOINT ["filerelay"]

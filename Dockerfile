# syntax=docker/dockerfile:1
# One image for every coach process: `coach api` (the default), `coach consume`, `coach
# replay`, and the tools (`coach topics create`, `coach publish`, `coach token`...). See
# docker-compose.yml for how the stack runs it and docs/RUNBOOK.md for operating it.
#
#   docker build -t coach .
#   docker run --rm -e COACH_JWT_SECRET=... -v coach-data:/data -p 8000:8000 coach
#   docker run --rm -e COACH_KAFKA_BOOTSTRAP_SERVERS=kafka:9092 -v coach-data:/data coach consume

ARG PYTHON_IMAGE=python:3.11-slim

# -- build: the exact versions of uv.lock, installed into /app/.venv ------------------------
FROM ${PYTHON_IMAGE} AS build
# Which stage an untagged image was (tools/image/build.py removes what a rebuild leaves).
LABEL org.coach.image.stage="build"
ARG UV_VERSION=0.13.8
RUN pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"
ENV UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never
WORKDIR /src
# The dependencies first, in a layer of their own that a code change does not rebuild.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project --no-editable
# Then the sources: the whole build context, which .dockerignore limits to the packages of the
# wheel (pyproject.toml's [tool.hatch.build.targets.wheel]); no list of them here to forget one.
COPY . ./
# coach itself, as a wheel (not editable): /app/.venv is all the runtime stage needs.
RUN uv sync --frozen --no-dev --no-editable

# -- runtime --------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
LABEL org.coach.image.stage="runtime"
RUN groupadd --system --gid 10001 coach \
    && useradd --system --uid 10001 --gid coach --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin coach \
    && mkdir -p /data \
    && chown coach:coach /data
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    COACH_DB_PATH=/data/coach.db
# The projection: the consumer writes it, the api reads it; both mount the same volume here.
VOLUME ["/data"]
WORKDIR /app
# Numeric, so that a runtime can tell without /etc/passwd that it is not root.
USER 10001:10001
EXPOSE 8000
# Liveness of `coach api` on its default port (slim images have no curl). Compose turns it
# off for the containers that run other commands.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2)"]
ENTRYPOINT ["coach"]
CMD ["api", "--host", "0.0.0.0", "--port", "8000"]

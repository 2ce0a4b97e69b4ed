# One image for every LKG service (DESIGN §6): the same binary runs one service per pod
# (`lkg run --target registry`) or applies one service's migrations and exits (`lkg migrate --target registry`).
# Only the runtime packages go in: no `embedded` extra (PostgreSQL and NATS binaries are for the one-process
# developer shape) and no `test` extra. Versions come from constraints.txt, the same pins `make test` runs on.
#
#   docker build -t lkg:0.1.0 .
#   docker run --rm -p 8000:8000 -e DATABASE_URL=... -e NATS_URL=... lkg:0.1.0 run --target registry --host 0.0.0.0

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: a virtual environment with the six packages installed as ordinary (non-editable) wheels ----------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
RUN python -m venv /opt/lkg

COPY constraints.txt ./
COPY libs/common/ libs/common/
COPY services/ services/

# Every dependency is pinned by constraints.txt; the local packages are built by hatchling from their sources.
# `pip check` fails the build on a broken dependency set instead of at the first request in production.
RUN /opt/lkg/bin/pip install --no-cache-dir -c constraints.txt \
        ./libs/common \
        ./services/registry \
        ./services/approvals \
        ./services/issues \
        ./services/scoring \
        ./services/notifier \
    && /opt/lkg/bin/pip check \
    && /opt/lkg/bin/python -m compileall -q /opt/lkg/lib

# ---- runtime: the virtual environment on a clean base, run by an unprivileged user -------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="lkg" \
      org.opencontainers.image.description="LKG 临空港重大产业项目落地建设在线: registry, approvals, issues, scoring and notifier services" \
      org.opencontainers.image.licenses="UNLICENSED"

# Bytecode is compiled at build time: the root filesystem is read-only in Kubernetes.
# LKG_ENV defaults to production so that a placeholder secret or the simulated clock is refused
# unless a deployment says otherwise on purpose.
ENV PATH=/opt/lkg/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LKG_ENV=production

# A fixed numeric id so that Kubernetes can verify runAsNonRoot without reading /etc/passwd.
RUN groupadd --system --gid 10001 lkg \
    && useradd --system --uid 10001 --gid lkg --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin lkg

COPY --from=build /opt/lkg /opt/lkg
# The web console's static files, served at / by every `lkg run` (docs/console.md).
COPY web/ /opt/lkg/web/
ENV LKG_CONSOLE_DIR=/opt/lkg/web

WORKDIR /opt/lkg
USER 10001:10001

EXPOSE 8000

# Liveness only (the process answers); readiness (database, NATS, migrations at head) is /readyz.
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]

ENTRYPOINT ["lkg"]
CMD ["--help"]

# syntax=docker/dockerfile:1
# The canarybot image: `docker build -t canarybot .` at the repository's root.

# Builder: a wheel of the project, installed with its runtime dependencies only (no extras: the
# simulator's and the dev tools' packages stay out) into a venv the final stage copies whole.
FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# The project's packages and metadata; .dockerignore keeps tests, caches and venvs out.
COPY . .
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv /opt/canarybot \
 && /opt/canarybot/bin/pip install /wheels/canarybot-*.whl

# Runtime: the same base, so the venv's interpreter links stay valid; no compiler, no pip run.
FROM python:3.11-slim
# CANARYBOT_HTTP_HOST: in a container, loopback would hide the probes' and the API's port.
# MPLCONFIGDIR: matplotlib needs a writable cache, and the pod's root filesystem is read-only.
ENV PATH=/opt/canarybot/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CANARYBOT_HTTP_HOST=0.0.0.0 \
    CANARYBOT_HTTP_PORT=8080 \
    MPLCONFIGDIR=/tmp/matplotlib
RUN groupadd --gid 10001 canarybot \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin canarybot
COPY --from=builder /opt/canarybot /opt/canarybot
# Numeric, so that Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD python -c "import urllib.request,os,sys; urllib.request.urlopen('http://127.0.0.1:'+os.environ.get('CANARYBOT_HTTP_PORT','8080')+'/healthz', timeout=2)"
ENTRYPOINT ["canarybot"]
CMD ["serve"]

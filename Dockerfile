# The Open Banking service: `python -m service serve` (webhooks, /internal/wake, /healthz, /readyz,
# /metrics, and the job worker). Configuration comes from the environment only (see .env.example);
# nothing secret is baked into the image.
#
#   docker build -t open-banking-cpa .
#   docker run --env-file .env -p 8000:8000 open-banking-cpa
#
# Stage 1: build the package and its dependencies into a virtualenv.
FROM python:3.11-slim AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH"
WORKDIR /build
COPY pyproject.toml ./
COPY service ./service
# A regular (non-editable) install: the `service` package lands in the venv's site-packages.
RUN pip install --upgrade pip && pip install .

# Stage 2: the runtime, with only the venv (which holds the `service` package) and no build tools.
FROM python:3.11-slim AS runtime
ENV PATH="/opt/venv/bin:$PATH" \
    OPEN_BANKING_ENV=production \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request, sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["python", "-m", "service", "serve", "--host", "0.0.0.0", "--port", "8000"]

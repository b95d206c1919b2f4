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
COPY pyproject.toml ./
COPY workshop_server ./workshop_server
COPY web ./web
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /app workshop \
    && mkdir -p /data \
    && chown workshop /data

USER workshop
VOLUME ["/data"]
EXPOSE 8000
CMD ["workshop-server"]

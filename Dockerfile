# DisComfy: the Discord bot only; ComfyUI runs elsewhere (see docker-compose.example.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# ffmpeg re-encodes videos so Discord plays them inline and they fit the upload limit.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

COPY requirements.txt ./
RUN pip install -r requirements.txt

# The code stays owned by root, so the bot can write only to its data volume.
RUN groupadd --system --gid 10001 discomfy \
    && useradd --system --uid 10001 --gid discomfy --home-dir /app --shell /usr/sbin/nologin discomfy \
    && mkdir -p /app/config /app/data \
    && chown discomfy:discomfy /app/data

COPY bot.py ./
COPY discomfy/ ./discomfy/
COPY workflows/ ./workflows/

USER discomfy

# config.yaml (read-only is fine), the workflow files, and the bot's database, outputs and heartbeat.
VOLUME ["/app/config", "/app/workflows", "/app/data"]

# Healthy only while the bot's own heartbeat (written every ~15 s) says Discord and ComfyUI are connected.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-m", "discomfy.health", "/app/data/health.json"]

CMD ["python", "bot.py", "--config", "/app/config/config.yaml"]

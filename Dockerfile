# syntax=docker/dockerfile:1
# reviewbot's image: `serve` (the default command) and `worker` from the same image.
#
#   docker build -t reviewbot .
#   docker run -p 8000:8000 -e GITHUB_APP_ID -e GITHUB_PRIVATE_KEY -e GITHUB_WEBHOOK_SECRET reviewbot
#   docker run ... reviewbot worker        # with REVIEWBOT_QUEUE_URL set on both
#
# Python 3.14: reviewbot parses the functions' code with its own Python, and python3.14 is
# the newest Lambda Python runtime, so the syntax of every runtime is parsed exactly
# (docs/check.md, "Runtime versions"). The dependencies come from requirements.txt, the
# lock file with hashes that the Procfile's buildpack installs too.
ARG PYTHON_VERSION=3.14

FROM python:${PYTHON_VERSION}-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/reviewbot
WORKDIR /src
COPY requirements.txt ./
RUN /opt/reviewbot/bin/pip install --require-hashes --no-deps -r requirements.txt
COPY pyproject.toml README.md LICENSE ./
COPY reviewbot ./reviewbot
RUN /opt/reviewbot/bin/pip install --no-deps . \
    && /opt/reviewbot/bin/reviewbot --version

FROM python:${PYTHON_VERSION}-slim
RUN groupadd --system --gid 10001 reviewbot \
    && useradd --system --uid 10001 --gid reviewbot --create-home --home-dir /home/reviewbot reviewbot
COPY --from=build /opt/reviewbot /opt/reviewbot
ENV PATH=/opt/reviewbot/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    REVIEWBOT_CACHE_DIR=/home/reviewbot/cache \
    PORT=8000
USER 10001:10001
WORKDIR /home/reviewbot
EXPOSE 8000 8001
# Readiness: `serve` answers on $PORT, a worker on REVIEWBOT_HEALTH_PORT (set it to the
# worker's REVIEWBOT_WORKER_PORT, 8001 by default). 503 until the queue backend answers.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('REVIEWBOT_HEALTH_PORT', os.environ['PORT']), timeout=4)"]
ENTRYPOINT ["reviewbot"]
CMD ["serve"]

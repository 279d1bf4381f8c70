# syntax=docker/dockerfile:1
#
# sandchat images, built from the repository root. One file, one target per service:
#
#   docker build --target api     -t sandchat-api .      # HTTP API + web UI; also runs the migrations
#   docker build --target gateway -t sandchat-gateway .  # WebSocket gateway
#   docker build --target worker  -t sandchat-worker .   # arq worker (no agent CLI, no Claude login)
#   docker build --target sandbox -t sandchat-sandbox .  # the agent's sandbox: the pinned Claude Code CLI
#                                                        # behind sandchat-sandbox, the workers' only way in
#
# docker-compose.yml builds all four. Python packages come only from the hash-pinned
# requirements.lock, installed with the same commands as `make install` (tests/deploy checks it).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG NODE_IMAGE=node:22-bookworm-slim

# ---------------------------------------------------------------------------------------------
# The web UI: static files that the API serves (WEB_DIST_DIR).
FROM ${NODE_IMAGE} AS web
WORKDIR /src/services/web
COPY services/web/package.json services/web/package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --no-audit --no-fund --loglevel=error
COPY services/web/ ./
RUN npm run build && test -f dist/index.html

# ---------------------------------------------------------------------------------------------
# The pinned Claude Code CLI. The npm package ships the native binary for this platform; its
# postinstall links it to bin/claude.exe, which needs nothing but glibc at run time (no Node).
FROM ${NODE_IMAGE} AS claude-cli
WORKDIR /src/claude-cli
COPY services/worker/claude-cli/package.json services/worker/claude-cli/package-lock.json services/worker/claude-cli/.npmrc ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --no-audit --no-fund --loglevel=error \
 && cp node_modules/@anthropic-ai/claude-code/bin/claude.exe /claude \
 && HOME=/tmp /claude --version

# ---------------------------------------------------------------------------------------------
# Python: the same two steps as `make install` (the lock, then the workspace members; here not
# editable), then the packages that only development needs (pytest, mypy, playwright …) are
# removed from the venv. Nothing is resolved here: --no-deps everywhere, hashes required.
FROM ${PYTHON_IMAGE} AS python-build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY requirements.lock ./
RUN --mount=type=cache,target=/root/.cache/pip \
    python -m pip install --require-hashes --no-deps -r requirements.lock
COPY shared/ shared/
# Every service folder: the Python members' pyproject.toml and src/ (the web UI's sources come along,
# unused here; .dockerignore keeps out what the host built).
COPY services/ services/
RUN python -m pip install --no-deps --no-build-isolation \
        ./shared ./services/api ./services/worker ./services/gateway ./services/cli ./services/sandbox ./services/dev
COPY docker/prune_venv.py /src/docker/
RUN python /src/docker/prune_venv.py \
 && python -m pip check \
 && sandchat-fake-claude --help >/dev/null

# ---------------------------------------------------------------------------------------------
# What every service image shares: the venv, the migrations, a non-root user, tini as PID 1.
FROM ${PYTHON_IMAGE} AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 sandchat \
 && useradd --system --uid 10001 --gid sandchat --create-home --home-dir /home/sandchat --shell /bin/bash sandchat \
 && install -d -o sandchat -g sandchat /app /app/data /workspace
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    API_HOST=0.0.0.0 \
    GATEWAY_HOST=0.0.0.0
COPY --from=python-build /opt/venv /opt/venv
WORKDIR /app
COPY alembic.ini ./
COPY migrations/ migrations/
COPY docker/healthcheck.py /app/docker/healthcheck.py
USER sandchat
ENTRYPOINT ["/usr/bin/tini", "--"]

# ---------------------------------------------------------------------------------------------
FROM runtime AS gateway
EXPOSE 8001
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "/app/docker/healthcheck.py", "gateway"]
CMD ["sandchat-gateway"]

# ---------------------------------------------------------------------------------------------
# The worker holds the service's secrets (database, Redis, tokens) and never the agent: it runs the
# agent through the sandbox service (AGENT_RUNNER=sandbox), or the simulator for demos.
FROM runtime AS worker
ENV AGENT_RUNNER=sandbox
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["sandchat-worker", "check"]
CMD ["sandchat-worker"]

# ---------------------------------------------------------------------------------------------
# The agent's sandbox: the pinned CLI with the tools it uses, run as the non-root user in /workspace
# (a volume), its login in /home/sandchat (a volume). sandchat-sandbox is the only way in; the
# folders under /run/sandchat hold the generated SANDBOX_TOKEN pair (`sandchat-sandbox new-token`).
FROM runtime AS sandbox
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates curl ripgrep procps less \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o sandchat -g sandchat -m 0700 /run/sandchat /run/sandchat/worker /run/sandchat/sandbox
COPY --from=claude-cli /claude /usr/local/bin/claude
USER sandchat
ENV CLAUDE_BIN=claude \
    DISABLE_AUTOUPDATER=1 \
    SANDBOX_HOST=0.0.0.0 \
    SANDBOX_WORKSPACE=/workspace
WORKDIR /workspace
EXPOSE 8002
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "/app/docker/healthcheck.py", "sandbox"]
CMD ["sandchat-sandbox"]

# ---------------------------------------------------------------------------------------------
# Last, so that a plain `docker build .` gives the API image (it also runs `alembic upgrade head`).
FROM runtime AS api
COPY --from=web /src/services/web/dist /app/web
ENV WEB_DIST_DIR=/app/web
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "/app/docker/healthcheck.py", "api"]
CMD ["sandchat-api"]

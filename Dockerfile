# syntax=docker/dockerfile:1
# The one image of the suite: `anpr serve <service>`, `anpr migrate`, `anpr deadletters`, ...
#
#   docker build --build-arg BASE_IMAGE=python:3.11-slim-bookworm -t ghcr.io/anpr-platform/anpr:0.1.0 .
#
# BASE_IMAGE: any Debian-based image with python3 (>= 3.11) and the venv module; without a registry,
# /work/shared/tools/make-base-image.sh builds one (local/debian-python:12). See README "The image".
ARG BASE_IMAGE=python:3.11-slim-bookworm

# ---- build: every wheel the suite needs (the project's and its pinned dependencies) ----
FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# Dependencies first, from pyproject.toml alone, so a code change does not rebuild them.
COPY pyproject.toml README.md ./
RUN python3 -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml','rb'))['project']['dependencies']))" \
        > requirements.txt \
    && python3 -m venv /opt/build-venv \
    && /opt/build-venv/bin/pip wheel --wheel-dir /wheels -r requirements.txt
COPY anpr ./anpr
COPY services ./services
# Of cli/, only what .dockerignore lets through: the parser and the services' own commands.
COPY cli ./cli
RUN /opt/build-venv/bin/pip wheel --no-deps --wheel-dir /wheels .

# The venv is made here from the wheels alone (no index), then copied whole into the runtime stage.
RUN python3 -m venv /opt/anpr \
    && /opt/anpr/bin/pip install --no-index --find-links /wheels anpr-alerting \
    && /opt/anpr/bin/pip uninstall -y pip setuptools wheel \
    && python3 -m compileall -q /opt/anpr

# ---- runtime: the venv and nothing else; no compilers, no pip, non-root uid 10001 ----
FROM ${BASE_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/anpr/bin:$PATH \
    HOME=/tmp
RUN groupadd --gid 10001 anpr && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp anpr
COPY --from=build /opt/anpr /opt/anpr
USER 10001:10001
WORKDIR /tmp
# Main gRPC ports 50051-50054, service ports (mutual TLS) 50061-50064; health and metrics as configured.
EXPOSE 50051 50052 50053 50054
ENTRYPOINT ["anpr"]
CMD ["--help"]

#!/usr/bin/env bash
# Makes a local Debian base image with Python, for building the project's image on a machine that
# reaches the package registries but no container registry. Needs root.
#
#   deploy/docker/make-base-image.sh [TAG]      (default TAG: local/debian-python:12)
#
# Installs docker.io and mmdebstrap from Debian's packages if missing, starts dockerd if no daemon
# answers (its socket: $DOCKER_HOST, default unix:///tmp/anpr-dockerd/docker.sock; the daemon keeps
# running: stop it by the PID in /tmp/anpr-dockerd/pid), builds a minimal Debian bookworm root with
# python3, python3-venv and python3-pip, and imports it as TAG. The base trusts this machine's CA
# bundle (as a corporate base image would), so that pip inside `docker build` reaches the package
# index the way pip on this machine does. Then:
#
#   docker build --network host --build-arg BASE_IMAGE=local/debian-python:12 -t anpr .
set -euo pipefail
tag=${1:-local/debian-python:12}
export DOCKER_HOST=${DOCKER_HOST:-unix:///tmp/anpr-dockerd/docker.sock}
if ! command -v dockerd >/dev/null || ! command -v mmdebstrap >/dev/null; then
  apt-get update -qq && apt-get install -y -qq docker.io mmdebstrap >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
  mkdir -p /tmp/anpr-dockerd
  nohup dockerd --data-root /tmp/anpr-dockerd/root --exec-root /tmp/anpr-dockerd/exec -H "$DOCKER_HOST" \
    --pidfile /tmp/anpr-dockerd/pid >/tmp/anpr-dockerd/log 2>&1 &
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start; see /tmp/anpr-dockerd/log" >&2; exit 1; }
fi
if ! docker image inspect "$tag" >/dev/null 2>&1; then
  work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
  printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$work/pip.conf"
  mmdebstrap --quiet --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates,tzdata \
    --customize-hook="upload /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt" \
    --customize-hook="upload $work/pip.conf /etc/pip.conf" \
    bookworm "$work/root.tar"
  docker import "$work/root.tar" "$tag" >/dev/null
fi
echo "$tag"

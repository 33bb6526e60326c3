#!/usr/bin/env bash
# Installs what the tests need on a Debian 12 or 13 machine and runs every test, those that
# need Debian's archive (through the host's apt sources) or a container engine included.
# `cargo test --workspace` alone runs only what needs neither.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

# Tools the tests drive for real: dpkg-deb and apt-ftparchive build and index a repository,
# gpg signs it, apt-get and dpkg are the oracles, the archive keyring verifies Debian,
# skopeo, umoci and docker-registry check and serve images, curl and openssl talk to servers.
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  apt-utils dpkg-dev gnupg xz-utils debian-archive-keyring ca-certificates \
  openssl python3 python3-venv skopeo umoci zstd docker-registry apache2-utils >/dev/null
# `stack --changed-since` asks git what changed.
$SUDO apt-get install -y -qq --no-install-recommends git >/dev/null
# Source builds and recipes run in bubblewrap; the tests stop them with pkill/pgrep.
$SUDO apt-get install -y -qq --no-install-recommends bubblewrap procps iproute2 >/dev/null
# Clients the service examples' tests talk to their containers with; libcurl4 is also the
# host library dpkg-shlibdeps reads when the recipe tests compare Depends with it.
$SUDO apt-get install -y -qq --no-install-recommends \
  postgresql-client curl libcurl4 openssh-client >/dev/null
# The libraries Pillow's extension modules link, for dpkg-shlibdeps on the host to compare
# the python-pillow example's Depends with.
$SUDO apt-get install -y -qq --no-install-recommends \
  libjpeg62-turbo libtiff6 libwebp7 libwebpdemux2 libwebpmux3 zlib1g >/dev/null
# readelf looks at what a recipe's build stripped (sections, build ids).
$SUDO apt-get install -y -qq --no-install-recommends binutils >/dev/null
# javac compiles the Java program a test runs in an image against its trust store.
$SUDO apt-get install -y -qq --no-install-recommends default-jdk-headless >/dev/null
# Images run in Docker; where no Docker engine answers, in podman with runc.
if ! docker info >/dev/null 2>&1; then
  $SUDO apt-get install -y -qq --no-install-recommends podman runc >/dev/null
fi

# The SPDX 2.3 JSON schema (shipped in lib4sbom) and the SPDX tools' validator check SBOMs;
# securesystemslib checks DSSE signatures, cyclonedx-python-lib CycloneDX documents and the
# Sigstore protobuf specs Sigstore bundles, from a virtual environment: Debian's Python
# refuses system-wide pip installs (PEP 668).
venv="target/python"
if [ ! -x "$venv/bin/python3" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python3" -m pip install --quiet --disable-pip-version-check \
  lib4sbom==0.10.4 spdx-tools==0.8.5 jsonschema \
  'securesystemslib[crypto]==1.6.0' 'cyclonedx-python-lib[json-validation]==11.12.0' \
  sigstore-protobuf-specs==0.5.2
export PATH="$PWD/$venv/bin:$PATH"

cargo test --workspace --locked --features staves/online-tests "$@"

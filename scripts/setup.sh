#!/usr/bin/env bash
# Sets up everything the book needs on this machine, and does nothing when it is all there:
#   1. a virtual environment in .venv with the pinned requirements and dlbook (editable);
#   2. as root on Debian: Chromium (for the browser test) and Fashion-MNIST from Debian's packages;
#   3. the datasets: found on disk, or downloaded once with a SHA-256 check (a reader's laptop).
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
stamp=.venv/.dlbook-requirements
if [ ! -f "$stamp" ] || [ requirements.txt -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "setup: installing requirements.txt into .venv"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
    touch "$stamp"
fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    missing=""
    [ -x /usr/bin/chromium ] || missing="$missing chromium"
    [ -d /usr/share/datasets/fashion-mnist ] || missing="$missing dataset-fashion-mnist"
    command -v g++ >/dev/null || missing="$missing g++"  # torch.compile on a CPU (chapter 12)
    if [ -n "$missing" ]; then
        echo "setup: apt-get install$missing"
        apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/dev/null
    fi
fi

.venv/bin/python -m dlbook.data fetch

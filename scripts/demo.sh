#!/usr/bin/env bash
# Set everything up, then generate city-scale synthetic data into demo/ and run the monthly job on it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/provmon demo "$@"

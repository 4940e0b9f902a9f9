#!/usr/bin/env bash
# Set everything up, then generate city-scale synthetic data into demo/ and run the monthly job on it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/provmon demo "$@"
echo "demo: the reports are in demo/reports/index.html, the data-quality checks in demo/reports/quality/index.html (both open offline)"

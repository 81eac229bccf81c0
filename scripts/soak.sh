#!/usr/bin/env bash
# The soak run of RELIABILITY.md: two miners (pools with a hostile one and faults, solo on a
# bcoin that restarts) for SECONDS (default 3600), sampled, with every share and block
# accounted for at the end. Needs what .ci/run installs (bcoin, the Stratum V2 stack).
#   scripts/soak.sh [SECONDS]
# The report (RSS, threads, fds over time) is written to target/soak/.
set -euo pipefail
cd "$(dirname "$0")/.."
export HASHRIG_SOAK_SECONDS="${1:-3600}"
export HASHRIG_BCOIN_DIR="${HASHRIG_BCOIN_DIR:-$HOME/.cache/hashrig/bcoin}"
export HASHRIG_SV2_DIR="${HASHRIG_SV2_DIR:-$HOME/.cache/hashrig/sv2}"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
export HASHRIG_REQUIRE_ALL=1
exec cargo test --release --test soak -- --nocapture

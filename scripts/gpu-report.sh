#!/bin/sh
# GPU figures for BENCHMARKS.md, in one go, on a machine with a hardware GPU (e.g. the lent
# H100 machine, which has the NVIDIA driver but no Vulkan loader).
#
# Here:   cargo build --release
#         (once) the loader debs into .gl/ as /work/.library/device/README.md says
# There:  sh scripts/gpu-report.sh   (carrying target/release/hashrig and .gl)
#
# Writes to $OUT (default /tmp/hashrig-gpu-report): report.txt (everything, in order) and
# bench.jsonl (one `hashrig bench --json` object per line, each with the setting it ran).
set -u
OUT=${OUT:-/tmp/hashrig-gpu-report}
BIN=${HASHRIG:-./target/release/hashrig}
SECONDS_PER_ROW=${SECONDS_PER_ROW:-8}
mkdir -p "$OUT"
report="$OUT/report.txt"
jsonl="$OUT/bench.jsonl"
: >"$report"
: >"$jsonl"
say() { echo "$@" | tee -a "$report"; }

# The Vulkan loader, when the system has none (dpkg -x of Debian's packages, see the device
# README).
if ! ldconfig -p | grep -q 'libvulkan\.so\.1'; then
    for f in .gl/*.deb; do [ -e "$f" ] && dpkg -x "$f" /; done
    ldconfig
fi
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
# NVIDIA's ICD where the loader does not find it by itself.
if ! "$BIN" devices 2>/dev/null | grep -qi nvidia; then
    for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json \
        /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
        if [ -e "$icd" ]; then
            export VK_DRIVER_FILES="$icd"
            break
        fi
    done
fi

say "== $(date -u +%Y-%m-%dT%H:%MZ) $(uname -srm)"
say "== commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
command -v nvidia-smi >/dev/null &&
    nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,power.limit --format=csv 2>&1 | tee -a "$report"
say "== hashrig devices"
"$BIN" devices 2>&1 | tee -a "$report"

bench() {
    label=$1
    shift
    say "== bench $label: $*"
    # One round a row: the device time is short (every row still runs several seconds).
    if "$BIN" bench --seconds "$SECONDS_PER_ROW" --rounds 1 --json "$@" >"$OUT/last.json" 2>>"$report"; then
        printf '{"setting":"%s","report":%s}\n' "$label" "$(tr -d '\n' <"$OUT/last.json")" >>"$jsonl"
        # One line per row: backend, threads, rate, kernel settings.
        python3 -c 'import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print("   %-4s x%-3d %10.2f MH/s  %s  %s" % (r["backend"], r["threads"], r["hashrate"] / 1e6, r["kernel"], r["device"]))' \
            "$OUT/last.json" 2>&1 | tee -a "$report"
    else
        say "   failed (exit $?)"
    fi
}

bench default --backend gpu
for rotate in xor add insert-bits; do
    bench "rotate=$rotate" --backend gpu --gpu-rotate "$rotate"
done
for wg in 32 128 256; do
    bench "wg=$wg" --backend gpu --gpu-workgroup "$wg"
done
bench "kernel=200ms" --backend gpu --gpu-kernel-ms 200
# CPU and GPU alone and together (is the total within 5% of the sum?), then with one core
# left free for feeding the GPU.
bench all --backend all
cores=$(nproc)
[ "$cores" -gt 1 ] && bench "all threads=$((cores - 1))" --backend all --threads $((cores - 1))
# scrypt on the GPU (the lookup gap is chosen from the adapter's limits; the kernel line names
# it) and on the CPU beside it. The rate is printed in MH/s like the rest: scrypt's is small.
bench "scrypt" --algo scrypt --backend gpu
bench "scrypt kernel=200ms" --algo scrypt --backend gpu --gpu-kernel-ms 200
bench "scrypt cpu" --algo scrypt --backend cpu
rm -f "$OUT/last.json"
say "== done"

#!/usr/bin/env bash
# Run every fuzz target for N seconds each (default 10); exit non-zero as
# soon as one finds a crash (its input is left in fuzz/artifacts/<target>/).
# Each target starts from its corpus (fuzz/corpus/<target>/, kept between
# runs, not committed) and the committed seeds (fuzz/seeds/<target>/, valid
# packets written by seeds/make.py).
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
set -euo pipefail
secs="${1:-10}"
cd "$(dirname "$0")"
targets=$(cargo +nightly fuzz list)
for t in $targets; do
    echo "== fuzz $t for ${secs}s"
    mkdir -p "corpus/$t"
    dirs=("corpus/$t")
    if [ -d "seeds/$t" ]; then
        dirs+=("seeds/$t")
    fi
    if ! cargo +nightly fuzz run "$t" "${dirs[@]}" -- -max_total_time="$secs" -print_final_stats=0; then
        echo "fuzz target $t failed; see fuzz/artifacts/$t/" >&2
        exit 1
    fi
done
echo "all fuzz targets ran ${secs}s without a crash"

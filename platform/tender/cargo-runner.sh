#!/bin/sh
# The cargo runner of this workspace (.cargo/config.toml): programs that are
# not Solo5 unikernels (no PT_INTERP /nonexistent/solo5/ in their first
# page) run directly, at the cost of one `head`; Solo5 unikernels are booted
# by mirage-run under the project's tender for their ABI note, built on
# demand in release mode.
kernel=$1
if ! head -c 8192 "$kernel" 2>/dev/null | grep -qa '/nonexistent/solo5/'; then
    exec "$@"
fi
root=$(cd "$(dirname "$0")/../.." && pwd)
target_dir=${CARGO_TARGET_DIR:-$root/target}
cargo build --quiet --release --manifest-path "$root/Cargo.toml" -p mirage-tender --target-dir "$target_dir" || exit 1
exec "$target_dir/release/mirage-run" "$@"

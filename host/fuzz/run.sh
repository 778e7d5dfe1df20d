#!/usr/bin/env bash
# Fuzz wfhost's readers of untrusted input for a bounded time each.
#
#   host/fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Targets: workflow, manifest, values, archive, template (all by default).
# Seed corpora come from the test fixtures; new inputs and crashes stay in
# host/fuzz/corpus and host/fuzz/artifacts (git-ignored). Stable Rust:
# libFuzzer's coverage without a sanitizer (`--sanitizer none`); Rust's own
# checks (bounds, overflow in debug assertions, panics) are the oracle.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(workflow manifest values archive template)
fi
command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked cargo-fuzz@0.13.1

repo=../..
seed() {
  local target="$1"
  local dir="corpus/$target"
  mkdir -p "$dir"
  case "$target" in
    workflow) cp "$repo"/workflows/*.yaml "$repo"/tests/fixtures/workflows/invalid/* "$dir"/ ;;
    manifest) for m in "$repo"/modules/*/wfmodule.toml "$repo"/sdk/templates/*/wfmodule.toml*; do
                cp "$m" "$dir/$(basename "$(dirname "$m")")-$(basename "$m")"; done ;;
    archive) tar -czf "$dir/module.tar.gz" -C "$repo/modules/system" wfmodule.toml wit ;;
    values) printf '\x00{"message":"hi"}' > "$dir/echo"; printf '\x07{"path":"a","contents":"b"}' > "$dir/record" ;;
    template) grep -ho '"[^"]*{{[^"]*}}[^"]*"' "$repo"/workflows/*.yaml | sed 's/^"//; s/"$//' \
                | split -l 1 - "$dir/t-" ;;
  esac
}

mkdir -p logs
for target in "${targets[@]}"; do
  seed "$target"
  echo "== fuzz $target for ${seconds}s"
  # --dev: the dev profile (Cargo.toml here: no debug info for dependencies)
  # builds far faster than release, and keeps debug assertions on.
  if ! RUSTC_BOOTSTRAP=1 cargo fuzz run --dev --sanitizer none "$target" "corpus/$target" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -timeout=10 \
      > "logs/$target.log" 2>&1; then
    tail -40 "logs/$target.log" >&2
    echo "fuzz $target failed: the input is in host/fuzz/artifacts/$target" >&2
    exit 1
  fi
  grep -E "^Done [0-9]+ runs" "logs/$target.log" || tail -3 "logs/$target.log"
done

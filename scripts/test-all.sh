#!/usr/bin/env bash
# test-all.sh: every test of the module, as `make test` runs it (inside
# scripts/with-postgres.sh, which provides BASALT_TEST_PG_DSN):
#
#   1. the packages with concurrency under the race detector (RACE_PKGS);
#   2. every other package normally;
#   3. every fuzz target (func FuzzX in a _test.go file) for FUZZTIME each,
#      beyond its seed corpus. New targets are found by themselves.
#
# 1 and 2 run side by side (the machine's two cores; go test itself runs
# packages in parallel). Each step's output goes to $OUT/<step>.log and is
# printed when the step ends; the script fails if any step failed, after
# all have run, and names them.
set -uo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
FUZZTIME=${FUZZTIME:-10s}
TESTFLAGS=${TESTFLAGS:--count=1 -timeout 25m}
OUT=${OUT:-test-output/logs}
# Packages whose goroutines share state: the log store, the worker and its
# journal, the app (scheduler loop, events), the web UI's live streams, the
# worker API (streams, pushes), load shedding, the server's limits, the
# login throttle, the boot-file server, the board consoles, the multinode
# coordinator and its LAVA listener, and the test
# board's serial relay. They run
# under -race only.
RACE_PKGS=${RACE_PKGS:-./internal/bootfiles/... ./internal/console/ ./internal/testutil/board/ ./internal/logstore/ ./internal/worker/ ./internal/dispatcher/journal/ ./internal/app/ ./internal/web/ ./internal/api/workerapi/ ./internal/api/events/ ./internal/api/admit/ ./internal/server/ ./internal/auth/ ./internal/notify/ ./internal/coordinator/ ./internal/api/lavacoord/}

mkdir -p "$OUT"
mod=$($GO list -m)
race_list=$($GO list $RACE_PKGS) || exit 1
other_list=$($GO list ./... | grep -vxF -f <(printf '%s\n' $race_list)) || exit 1

failed=()
run_step() { # name cmd...
  local name=$1; shift
  local start=$SECONDS
  if "$@" >"$OUT/$name.log" 2>&1; then
    echo "test-all: $name passed in $((SECONDS - start)) s" >>"$OUT/$name.log"
  else
    echo "test-all: $name FAILED after $((SECONDS - start)) s" >>"$OUT/$name.log"
    return 1
  fi
}

# 1 and 2 side by side.
# shellcheck disable=SC2086
run_step race $GO test -race $TESTFLAGS $race_list &
race_pid=$!
# shellcheck disable=SC2086
run_step unit $GO test $TESTFLAGS $other_list &
unit_pid=$!
wait $race_pid || failed+=(race)
cat "$OUT/race.log"
wait $unit_pid || failed+=(unit)
cat "$OUT/unit.log"

# 3: fuzz targets, one at a time (each uses both cores).
# fuzz_one runs one target. Go's fuzzer can end with "context deadline
# exceeded" and no failing input when -fuzztime runs out while it is still
# minimizing a new interesting input (a toolchain flake, seen on busy
# machines): such a run is repeated once, and said so. A real failure writes
# its input under testdata/fuzz and fails at once.
fuzz_one() { # pkg name
  local out
  out=$($GO test -run '^$' -fuzz "^$2\$" -fuzztime "$FUZZTIME" "$1" 2>&1)
  local rc=$?
  echo "$out"
  [ $rc -eq 0 ] && return 0
  if grep -q 'context deadline exceeded' <<<"$out" && ! grep -q 'Failing input written' <<<"$out"; then
    echo "fuzz $1 $2: the fuzzer's deadline flake (no failing input): running it again"
    $GO test -run '^$' -fuzz "^$2\$" -fuzztime "$FUZZTIME" "$1"
    return
  fi
  return $rc
}

fuzz() {
  local n=0
  while IFS=: read -r file name; do
    pkg=./$(dirname "$file")
    echo "fuzz $pkg $name for $FUZZTIME"
    fuzz_one "$pkg" "$name" || return 1
    n=$((n + 1))
  done < <(grep -rHoE '^func Fuzz[A-Za-z0-9_]*' --include='*_test.go' internal cmd | sed 's/func //' | sort)
  [ "$n" -gt 0 ] || { echo "no fuzz targets found"; return 1; }
  echo "fuzzed $n targets"
}
run_step fuzz fuzz || failed+=(fuzz)
cat "$OUT/fuzz.log"

if [ ${#failed[@]} -gt 0 ]; then
  echo "test-all: FAILED: ${failed[*]} (logs in $OUT)" >&2
  exit 1
fi
echo "test-all: race, unit and fuzz passed ($mod)"

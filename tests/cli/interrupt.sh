#!/usr/bin/env bash
# Ctrl-C during a tune (SIGINT to its whole process group, as a terminal sends it): the tune stops
# after the batch in flight, its compile workers are not killed under it (no config is logged as
# failed), it prints the summary of what it has and exits 130, and the same command resumes.
# A second SIGINT ends it at once. Usage: interrupt.sh CHAMELEON_EXE NETWORK_JSON
set -euo pipefail
exe=$1
net=$2
dir=$(mktemp -d)
# On any failure, what the tunes printed and how the log ends: the evidence for a failure that
# does not come again.
on_exit() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    for f in "$dir"/out.txt "$dir"/err.txt "$dir"/out2.txt "$dir"/err2.txt; do
      [ -f "$f" ] && { echo "--- $f (last 40 lines)"; tail -n 40 "$f"; }
    done
    [ -f "$dir/tune.jsonl" ] && { echo "--- the log's last 5 lines"; tail -n 5 "$dir/tune.jsonl" | cut -c1-300; }
  fi
  rm -rf "$dir"
  exit "$rc"
}
trap on_exit EXIT
log="$dir/tune.jsonl"
# Compiled (not --sim-estimate), nothing cached: the builds run in compile workers, which the
# signal reaches too.
args=(tune "$net" --device sim --tasks 5,8,11 --templates conv2d_implicit_gemm --trials 48 --no-cache --log "$log")
# status of a task: its state in the log, as `status --json` says
state_of() {
  "$exe" status "$net" --device sim --target h100 --templates conv2d_implicit_gemm --log "$log" --json |
    python3 -c 'import json, sys; print([t["state"] for t in json.load(sys.stdin)["tasks"] if t["task"] == int(sys.argv[1])][0])' "$1" || true
}

wait_records() { # until the log holds at least $1 records (up to 60 s: a loaded CI machine is slow)
  for _ in $(seq 1 3000); do
    [ -f "$log" ] && [ "$(grep -c '^{' "$log")" -ge "$1" ] && return 0
    sleep 0.02
  done
  echo "the tune wrote fewer than $1 records in 60 s"
  exit 1
}

setsid "$exe" "${args[@]}" --plan-size 8 >"$dir/out.txt" 2>"$dir/err.txt" &
pid=$!
wait_records 4
kill -INT -- "-$pid"
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 130 ] || { cat "$dir/err.txt" "$dir/out.txt"; echo "exit $rc after Ctrl-C, expected 130"; exit 1; }
for want in "chameleon: interrupted: stopping after the measurements in flight" \
            "chameleon: interrupted: every measurement made is in $log; the same command resumes"; do
  grep -qF "$want" "$dir/err.txt" || { cat "$dir/err.txt"; echo "no '$want'"; exit 1; }
done
grep -q "^tuned .* with chameleon: 3 tasks" "$dir/out.txt" || { cat "$dir/out.txt"; echo "no summary"; exit 1; }
grep -q "not run" "$dir/out.txt" || { cat "$dir/out.txt"; echo "the tasks not started are not shown"; exit 1; }
records=$(grep -c '^{' "$log")
[ "$records" -lt 144 ] || { echo "the tune was not interrupted"; exit 1; }
python3 - "$log" <<'PY'
import json, sys
errors = [json.loads(l)["result"][1] for l in open(sys.argv[1]) if l.startswith("{")]
bad = [e for e in errors if e != 0]
assert not bad, f"configs logged as failed after Ctrl-C: errors {bad}"
print(f"interrupted after {len(errors)} records, none failed")
PY
# The interrupted task has records, but status does not call it up to date.
[ "$(state_of 5)" = unfinished ] || { echo "task 5 after Ctrl-C: $(state_of 5), expected unfinished"; exit 1; }

# The same tune resumes, and a second Ctrl-C, once the first has been taken, ends it at once: no
# summary. The batch in flight must be long for that: the random tuner measures the whole plan
# (task 5's 40 trials left) in one batch, where chameleon's adaptive sampling may batch as few as
# 8 configs, which a loaded machine can finish before the second Ctrl-C arrives (the test's one
# failure in many runs was that).
cp "$log" "$dir/before.jsonl"
setsid "$exe" "${args[@]}" --tuner random --plan-size 64 >"$dir/out2.txt" 2>"$dir/err2.txt" &
pid=$!
wait_records $((records + 1))
kill -INT -- "-$pid"
for _ in $(seq 1 500); do
  grep -q "chameleon: interrupted: stopping" "$dir/err2.txt" && break
  sleep 0.01
done
kill -INT -- "-$pid" 2>/dev/null || true
rc=0
wait "$pid" || rc=$?
[ "$rc" -ne 0 ] || { echo "two Ctrl-C and the tune ended normally"; exit 1; }
grep -q "resuming from" "$dir/err2.txt" || { cat "$dir/err2.txt"; echo "the rerun did not resume"; exit 1; }
grep -q "^tuned " "$dir/out2.txt" && { cat "$dir/out2.txt"; echo "a second Ctrl-C still waited for the batch"; exit 1; }
cmp -n "$(stat -c %s "$dir/before.jsonl")" "$dir/before.jsonl" "$log" || { echo "records before the rerun changed"; exit 1; }
"$exe" -q "${args[@]}" --progress none >/dev/null
[ "$(grep -c '^{' "$log")" -eq 144 ] || { echo "the resumed tune did not finish the budget"; exit 1; }
for t in 5 8 11; do
  [ "$(state_of $t)" = "up to date" ] || { echo "task $t after the resumed tune: $(state_of $t)"; exit 1; }
done
echo "interrupt ok"

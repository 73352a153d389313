#!/usr/bin/env bash
# A tune killed with -9 loses nothing: every record written before the kill is still there after
# a resume, the resume repairs a cut-off line, finishes the budget, and never measures a config
# twice. While the tune runs, a second tune on its log and a merge into it are refused.
# Usage: kill_resume.sh CHAMELEON_EXE NETWORK_JSON
set -euo pipefail
exe=$1
net=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
log="$dir/tune.jsonl"
args=(-q tune "$net" --device sim --sim-estimate --tasks 4 --trials 300 --plan-size 8 --log "$log" --progress none)

"$exe" "${args[@]}" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 1500); do # up to 30 s: a loaded CI machine is slow to start
  [ -f "$log" ] && [ "$(grep -c '^{' "$log")" -ge 24 ] && break
  sleep 0.02
done
refused() { # command..., the message it must fail with
  local want=$1 rc=0
  shift
  "$@" >/dev/null 2>"$dir/refused.txt" || rc=$?
  [ "$rc" -ne 0 ] && grep -qF "$want" "$dir/refused.txt" || { cat "$dir/refused.txt"; echo "not refused: $*"; exit 1; }
}
in_use="is being written by another tune that is still running"
refused "$in_use: wait for it to end, or give this one another --log" "$exe" "${args[@]}"
refused "$in_use: wait for it to end, or merge into another --out" "$exe" merge "$log" --out "$log"
kill -0 "$pid" 2>/dev/null || { echo "the tune ended before the checks: they proved nothing"; exit 1; }
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
before=$(wc -l <"$log")
head -n "$before" "$log" >"$dir/before.jsonl" # complete lines written before the kill
records_before=$(grep -c '^{' "$dir/before.jsonl")
echo "killed after $records_before complete records"
[ "$records_before" -ge 1 ] && [ "$records_before" -lt 300 ] || { echo "the tune was not killed mid-way"; exit 1; }

"$exe" "${args[@]}" >/dev/null
after=$(grep -c '^{' "$log")
cmp -n "$(stat -c %s "$dir/before.jsonl")" "$dir/before.jsonl" "$log" || { echo "records before the kill changed"; exit 1; }
[ "$after" -eq 300 ] || { echo "expected 300 records after resume, got $after"; exit 1; }
# A config is its template and index (the task has several templates, each with its own indices):
# each record line holds one of each, in that order, so pairing the matches pairs each line's.
unique=$(grep '^{' "$log" | grep -o '"config":{"index":[0-9]*\|"template":"[a-z0-9_]*"' | paste - - | sort -u | wc -l)
[ "$unique" -eq 300 ] || { echo "a config was measured twice ($unique unique of 300)"; exit 1; }
echo "resume kept all $records_before records and finished with $after unique configs"

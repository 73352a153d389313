#!/usr/bin/env bash
# The CI retuning workflow on the sim device: shards cover a network and merge without loss or
# duplicates; status says up to date, then stale when the template changes, and exits non-zero;
# a tune with an up-to-date log measures nothing; a changed template is retuned; several devices
# tune in parallel. Usage: ci_workflow.sh CHAMELEON_EXE NETWORK_JSON
set -euo pipefail
exe=$1
net=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
tune=(-q tune "$net" --device sim --sim-estimate --trials 16 --plan-size 8 --progress none)

for i in 0 1 2; do "$exe" "${tune[@]}" --shard "$i/3" --log "$dir/shard-$i.jsonl" >/dev/null; done
"$exe" merge "$dir"/shard-*.jsonl "$dir/shard-1.jsonl" --out "$dir/merged.jsonl" | tee "$dir/merge.txt"
grep -q "duplicates dropped" "$dir/merge.txt"
records=$(grep -c '^{' "$dir/merged.jsonl")
shard_records=$(cat "$dir"/shard-*.jsonl | grep -c '^{')
[ "$records" -eq "$shard_records" ] || { echo "merge: $records records, shards had $shard_records"; exit 1; }

"$exe" status "$net" --device sim --log "$dir/merged.jsonl" | tee "$dir/status.txt"
grep -q "all tasks up to date" "$dir/status.txt"

# An up-to-date log: nothing new to measure.
"$exe" -q tune "$net" --device sim --sim-estimate --trials 16 --log "$dir/merged.jsonl" --progress none --json >"$dir/again.json"
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); n=sum(t['new_trials'] for t in d['tasks']); assert n == 0, n" "$dir/again.json"

# Another template version: every task is stale, status fails, the tune retunes.
sed 's/"template_fingerprint":"[0-9a-f]*"/"template_fingerprint":"0000000000000000"/g' "$dir/merged.jsonl" >"$dir/old.jsonl"
if "$exe" status "$net" --device sim --log "$dir/old.jsonl" >"$dir/stale.txt"; then
  echo "status passed on a stale log"; exit 1
fi
grep -q "template conv2d_direct_splitk changed" "$dir/stale.txt"
"$exe" -q tune "$net" --device sim --sim-estimate --trials 16 --plan-size 8 --tasks 1,2 --log "$dir/old.jsonl" --progress none --json >"$dir/retune.json"
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert all(t['new_trials'] == 16 for t in d['tasks']), d['tasks']" "$dir/retune.json"

# Two devices at once: every task tuned once.
"$exe" -q tune "$net" --device sim --sim-estimate --trials 16 --plan-size 8 --devices 0,1 --log "$dir/two.jsonl" --progress none --json >"$dir/two.json"
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert all(t['new_trials'] == 16 for t in d['tasks']), d['tasks']" "$dir/two.json"
echo "ci workflow ok"

#!/usr/bin/env bash
# The whole pipeline on random networks of awkward layers (scripts/random_network.py: prime
# channel counts, odd planes, asymmetric kernels, dilation, uneven padding, depthwise layers with
# multipliers, batch > 1): tasks lists them, a sim tune measures every task, replay emits a
# compiled kernel per task, and bench (on the sim) times each of them without a failure.
# Usage: random_networks.sh CHAMELEON_EXE SCRIPTS_DIR [SEEDS]
set -euo pipefail
exe=$1 scripts=$2 seeds=${3:-"5 9 13"}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for seed in $seeds; do
  net="$dir/random$seed.json"
  python3 "$scripts/random_network.py" "$seed" > "$net"
  tasks=$("$exe" tasks "$net" --json | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["tasks"]))')
  "$exe" -q tune "$net" --device sim --sim-estimate --trials 8 --plan-size 8 --progress none \
    --log "$dir/$seed.jsonl" > /dev/null
  "$exe" -q replay "$dir/$seed.jsonl" --out "$dir/$seed-kernels" > /dev/null
  "$exe" bench "$dir/$seed-kernels" --device sim --json > "$dir/$seed-bench.json"
  python3 - "$dir/$seed-bench.json" "$tasks" "$seed" <<'PY'
import json, sys
b, tasks, seed = json.load(open(sys.argv[1])), int(sys.argv[2]), sys.argv[3]
assert len(b["kernels"]) == tasks and b["failed"] == 0, (seed, tasks, b["failed"], [k["ours"]["message"] for k in b["kernels"]])
print(f"random network {seed}: {tasks} tasks tuned, replayed and benched on the sim:",
      ", ".join(sorted({k["template"] for k in b["kernels"]})))
PY
done

#!/usr/bin/env bash
# `cmake --install` gives a chameleon that works from its prefix with no source tree: run from an
# empty folder, `tasks resnet18` and a short sim tune use the shipped network (saying so), an
# unknown name lists the shipped ones, and the prefix holds the networks and docs.
# Usage: install.sh BUILD_DIR
set -euo pipefail
build=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cmake --install "$build" --prefix "$dir/prefix" >"$dir/install.txt" 2>&1 || { cat "$dir/install.txt"; exit 1; }
exe="$dir/prefix/bin/chameleon"
for f in share/chameleon/networks/resnet18.json share/doc/chameleon/README.md share/doc/chameleon/deploy.md \
         share/chameleon/scripts/fetch_nvrtc12.py; do
  [ -e "$dir/prefix/$f" ] || { echo "the install lacks $f"; find "$dir/prefix" | head -40; exit 1; }
done
mkdir "$dir/work"
cd "$dir/work"
"$exe" tasks resnet18 >tasks.txt 2>&1 || { cat tasks.txt; exit 1; }
grep -q "using the shipped networks/resnet18.json" tasks.txt || { cat tasks.txt; echo "no note of the shipped file"; exit 1; }
grep -q "11 unique tasks" tasks.txt || { cat tasks.txt; exit 1; }
"$exe" tune resnet18.json --target h100 --device sim --tasks 1 --trials 4 --progress none >tune.txt 2>&1 ||
  { cat tune.txt; echo "the installed tune failed"; exit 1; }
[ -s resnet18-h100-sim.jsonl ] || { ls; echo "no log in the working folder"; exit 1; }
rc=0
"$exe" tasks resnet19 >unknown.txt 2>&1 || rc=$?
[ "$rc" -ne 0 ] && grep -Eq "names no shipped network \(alexnet, .*resnet18, .*\)" unknown.txt ||
  { cat unknown.txt; echo "an unknown name: exit $rc"; exit 1; }
echo "install ok"

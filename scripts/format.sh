#!/usr/bin/env bash
# Formats the C++ sources with the repository's .clang-format, or checks that they are (--check:
# exit 1 and the files that differ, as CI runs it through ctest's `format` test).
# The CUDA templates and kernels (templates/, kernels/) are left as written: their text is part
# of every template's fingerprint, so reformatting them would make every tuning record stale.
# Usage: scripts/format.sh [--check]
set -euo pipefail
cd "$(dirname "$0")/.."
tool=""
for candidate in clang-format-14 clang-format; do
  if command -v "$candidate" >/dev/null; then tool=$candidate; break; fi
done
if [ -z "$tool" ]; then
  echo "format: clang-format not found (scripts/setup.sh installs Debian's clang-format)" >&2
  exit 1
fi
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files --cached --others --exclude-standard -- \
    'lib/*.cpp' 'lib/*.hpp' 'apps/*.cpp' 'apps/*.hpp' 'tests/*.cpp' 'tests/*.hpp')
else # a source tree without git (an unpacked archive)
  mapfile -t files < <(find lib apps tests -name '*.cpp' -o -name '*.hpp' | sort)
fi
if [ "${1:-}" = "--check" ]; then
  bad=()
  for f in "${files[@]}"; do
    [ -f "$f" ] || continue
    "$tool" --style=file "$f" | cmp -s - "$f" || bad+=("$f")
  done
  if ((${#bad[@]})); then
    echo "format: ${#bad[@]} of ${#files[@]} files differ from $("$tool" --version | grep -o 'version [0-9.]*')'s formatting:" >&2
    printf '  %s\n' "${bad[@]}" >&2
    echo "format: run scripts/format.sh to format them" >&2
    exit 1
  fi
  echo "format: ${#files[@]} files formatted as .clang-format says"
else
  "$tool" --style=file -i "${files[@]}"
  echo "format: ${#files[@]} files formatted"
fi

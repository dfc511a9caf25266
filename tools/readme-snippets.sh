#!/usr/bin/env bash
# The README's code blocks are excerpts of the compiled examples, never hand copies: each block
# after a `<!-- snippet: examples/FILE.cpp#NAME -->` line is the text between `// [NAME]` and
# `// [/NAME]` in that file (several such regions join in order, a blank line apart; each region is dedented).
#   tools/readme-snippets.sh           checks (exit 1 and a diff when a block differs)
#   tools/readme-snippets.sh --update  rewrites the blocks from the examples
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
README="$ROOT/README.md"

region() {  # FILE NAME: the regions' text, each dedented
  awk -v name="$2" '
    function flush(   i, n, min, line, ind) {
      min = -1
      for (i = 1; i <= cnt; i++) {
        line = buf[i]; if (line ~ /^[ \t]*$/) continue
        match(line, /^ */); ind = RLENGTH
        if (min < 0 || ind < min) min = ind
      }
      if (regions++) print ""  # a blank line between regions
      for (i = 1; i <= cnt; i++) print (min > 0 ? substr(buf[i], min + 1) : buf[i])
      cnt = 0
    }
    $0 ~ "// \\[/" name "\\][ \t]*$" { flush(); on = 0; next }
    $0 ~ "// \\[" name "\\][ \t]*$" { on = 1; cnt = 0; next }
    on { buf[++cnt] = $0 }
  ' "$ROOT/$1"
}

render() {  # README with every snippet block regenerated
  local in_block=0 pending=""
  while IFS= read -r line || [[ -n "$line" ]]; do
    if [[ $in_block == 1 ]]; then
      [[ "$line" == '```' ]] && { in_block=0; printf '%s\n' "$line"; }
      continue
    fi
    printf '%s\n' "$line"
    if [[ "$line" =~ ^'<!-- snippet: '([^#]+)'#'([A-Za-z0-9_-]+)' -->'$ ]]; then
      pending="${BASH_REMATCH[1]} ${BASH_REMATCH[2]}"
      continue
    fi
    if [[ -n "$pending" && "$line" == '```cpp' ]]; then
      # shellcheck disable=SC2086
      region $pending
      pending=""
      in_block=1
    fi
  done < "$README"
}

fresh="$(render)"
if [[ "${1:-}" == "--update" ]]; then
  printf '%s\n' "$fresh" > "$README"
  exit 0
fi
if ! diff -u "$README" <(printf '%s\n' "$fresh"); then
  echo "README.md: a snippet differs from its example (run tools/readme-snippets.sh --update)" >&2
  exit 1
fi
count=$(grep -c '^<!-- snippet: ' "$README" || true)
echo "README.md: ${count} snippets match their examples"

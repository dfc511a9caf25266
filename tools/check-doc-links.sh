#!/usr/bin/env bash
# The docs a clone has are all it needs: every relative link in the Markdown files resolves to a
# file of the repository, and nothing points at the notes outside it (../shared, DESIGN.md,
# PROTOCOL.md, the seeds).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bad=0
while IFS= read -r md; do
  dir="$(dirname "$md")"
  while IFS= read -r target; do
    path="${target%%#*}"
    [[ -z "$path" || "$path" =~ ^(https?|mailto): ]] && continue
    [[ -e "$dir/$path" ]] || { echo "$md: link to $target: no such file in the repository"; bad=1; }
  done < <(awk '/^```/ { code = !code; next } !code' "$md" | grep -o '\](\([^)]*\))' | sed 's/^](//; s/)$//' || true)
  if grep -nE '\.\./shared|DESIGN\.md|PROTOCOL\.md|seeds/' "$md"; then
    echo "$md: refers to files outside the repository (above)"
    bad=1
  fi
done < <(git ls-files '*.md')
((bad == 0)) && echo "check-doc-links: every link stays in the repository"
exit "$bad"

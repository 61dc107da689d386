#!/bin/sh
# The repository's files speak of the project only (suite 'tools'): no tracked or new file names
# the notes folder beside the repository (../shared) or an absolute path of the machine it was
# written on (/work, /root, /home). Skipped outside a git checkout. Usage: repo_paths.sh SOURCE_DIR
src=$1
git -C "$src" rev-parse --git-dir >/dev/null 2>&1 || { echo "not a git checkout: nothing to check"; exit 77; }
pattern='\.\./shared|(^|[^A-Za-z0-9_.$-])/(work|root|home)([/"'"'"' ]|$)'
if git -C "$src" grep --untracked -nIE "$pattern" -- . ':!tests/tools/repo_paths.sh'; then
  echo "FAIL: the lines above name ../shared or an absolute path of this machine"
  exit 1
fi
echo "ok: no ../shared, /work, /root or /home in the repository"

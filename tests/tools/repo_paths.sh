#!/bin/sh
# The repository's files speak of the project only (suite 'tools'): no tracked or new file names
# the notes folder beside the repository (its parent directory's notes) or an absolute path of the
# machine it was written on (the work, root and home directories). Skipped outside a git
# checkout. Usage: repo_paths.sh SOURCE_DIR
# The pattern is put together from pieces so that this file itself names none of them.
src=$1
git -C "$src" rev-parse --git-dir >/dev/null 2>&1 || { echo "not a git checkout: nothing to check"; exit 77; }
up='\.\.'
notes='shar''ed'
dirs='wo''rk|ro''ot|ho''me'
pattern="$up/$notes|(^|[^A-Za-z0-9_.\$-])/($dirs)([/\"' ]|\$)"
if git -C "$src" grep --untracked -nIE "$pattern" -- .; then
  echo "FAIL: the lines above name the notes folder beside the repository or an absolute path of this machine"
  exit 1
fi
echo "ok: no file names the notes folder beside the repository or this machine's absolute paths"

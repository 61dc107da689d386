#!/bin/sh
# The command line of every tool (suite 'tools'):
#   cli_test.sh tool EXE       EXE --help exits 0 and prints a usage line (a script: its synopsis
#                              'scripts/NAME ...'), what it does and an example; EXE --no-such-option exits non-zero (not by a signal),
#                              prints nothing on stdout and says on stderr that the option is
#                              unknown (not, say, that it lacks a value)
#   cli_test.sh scripts DIR    the same for every executable file in DIR (the scripts/ folder),
#                              so that a new script without --help fails here; the scripts whose
#                              arguments go on to `meson test` (test, sanitize) are only asked
#                              for --help, which they answer before building anything
set -u
mode=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bad=0

check() { # $1 = program, $2 = 1 to also try an unknown option
  name=${1##*/}
  timeout 30 "$1" --help >"$tmp/out" 2>"$tmp/err"
  rc=$?
  if [ $rc -ne 0 ]; then
    echo "FAIL $name --help: exit status $rc"; cat "$tmp/err"; bad=1
  elif ! grep -qi -e 'usage' -e "scripts/$name" "$tmp/out" || ! grep -q '^ *Examples\{0,1\}:' "$tmp/out" ||
      [ "$(wc -l <"$tmp/out")" -lt 4 ]; then
    echo "FAIL $name --help: want a usage line (or scripts/$name ...), what it does and 'Example:' on stdout:"
    cat "$tmp/out"; bad=1
  else
    echo "ok   $name --help"
  fi
  [ "$2" = 1 ] || return 0
  timeout 30 "$1" --no-such-option >"$tmp/out" 2>"$tmp/err"
  rc=$?
  if [ $rc -eq 0 ] || [ $rc -ge 124 ]; then
    echo "FAIL $name --no-such-option: exit status $rc (want an error, not success, a timeout or a signal)"; bad=1
  elif [ -s "$tmp/out" ]; then
    echo "FAIL $name --no-such-option: printed on stdout:"; cat "$tmp/out"; bad=1
  elif ! grep -Eqi -e "(unknown|unrecognized|invalid) (option|argument).*no-such-option" -e "'--no-such-option' is not" \
      -e 'takes no arguments' -e 'error: ' "$tmp/err"; then
    echo "FAIL $name --no-such-option: the error does not say the option is unknown:"; cat "$tmp/err"; bad=1
  else
    echo "ok   $name --no-such-option: $(head -n 1 "$tmp/err")"
  fi
}

case $mode in
tool) check "$2" 1 ;;
scripts)
  n=0
  for f in "$2"/*; do
    [ -f "$f" ] && [ -x "$f" ] || continue
    n=$((n + 1))
    case ${f##*/} in test | sanitize) check "$f" 0 ;; *) check "$f" 1 ;; esac
  done
  [ $n -gt 0 ] || { echo "FAIL no executable scripts in $2"; bad=1; }
  ;;
*) echo "usage: cli_test.sh tool EXE | scripts DIR" >&2; exit 2 ;;
esac
exit $bad

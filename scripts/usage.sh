# Sourced by the scripts of this folder after their `cd` to the repository root (not run by itself):
# a script's --help is its opening comment block, and a wrong argument is one line naming it and
# exit status 2, the same way in every script.

# Print the calling script's opening comment block (the lines after #! up to the first that is not
# a comment), without the leading "# ".
script_usage() { awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"; }

# Refuse an argument: "NAME: WHAT (see scripts/NAME --help)", exit 2.
script_refuse() {
  echo "${0##*/}: $1 (see scripts/${0##*/} --help)" >&2
  exit 2
}

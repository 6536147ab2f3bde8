# Sourced by the results scripts (scripts/attack-results.sh, scripts/downstream-results.sh): stops on the first
# error, moves to the repository root, reads the output folder from the script's first argument (default out/), builds
# licb in Release and sets $licb (LICB: another build of licb). `use_commit C` switches $licb to the program of commit C
# (a git worktree in $out, built once), whose embedded zoo is that commit's models/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[1]}")/.."
out="${1:-out}"
dotnet build -c Release src/LicBackdoor.Cli >/dev/null
licb="${LICB:-src/LicBackdoor.Cli/bin/Release/net10.0/linux-x64/licb}"
export OMP_WAIT_POLICY=PASSIVE
use_commit() {
  local tree="$out/licb-$1"
  if [[ ! -d "$tree" ]]; then git worktree add --detach "$tree" "$1" >/dev/null; fi
  dotnet build -c Release "$tree/src/LicBackdoor.Cli" >/dev/null
  licb="$tree/src/LicBackdoor.Cli/bin/Release/net10.0/linux-x64/licb"
}

# Sourced by the results scripts (scripts/attack-results.sh, scripts/downstream-results.sh): stops on the first
# error, moves to the repository root, reads the output folder from the script's first argument (default out/), builds
# licb in Release and sets $licb (LICB: another build of licb).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[1]}")/.."
out="${1:-out}"
dotnet build -c Release src/LicBackdoor.Cli >/dev/null
licb="${LICB:-src/LicBackdoor.Cli/bin/Release/net10.0/linux-x64/licb}"
export OMP_WAIT_POLICY=PASSIVE

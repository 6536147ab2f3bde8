#!/usr/bin/env bash
# Trains the project's own zoo (models/README.md records what each run took) and writes the shipped files,
# models/bmshj2018-hyperprior-mini-q{1,2,3,4}.safetensors and models/cheng2020-anchor-mini-q{1,2,3,4}.safetensors
# (float16 layer weights, CDF tables rebuilt on load).
# Usage: scripts/train-zoo.sh [RUNS_DIR]   (default: runs/). Resumable: rerun after an interruption.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-runs}"
dotnet build -c Release src/LicBackdoor.Cli >/dev/null
licb=src/LicBackdoor.Cli/bin/Release/net10.0/linux-x64/licb
export OMP_WAIT_POLICY=PASSIVE
train() { # run-name, then licb train options
  local run="$runs/$1"; shift
  if [[ -f "$run/model.safetensors" ]]; then return; fi
  if [[ -f "$run/options.json" ]]; then "$licb" --threads 2 train --run "$run" --resume
  else "$licb" --threads 2 train --run "$run" "$@"; fi
}
data="${LICB_DATA:-../shared/data}"
# The first zoo (until 2026-11-27): q3 from scratch on photos + CamVid (about 9 crops in 10 from CamVid)
train hp-mini-q3 --quality 3 --mini --steps 20000 --lr 2e-4 --validate-every 1000 --checkpoint-every 1000 --log-every 500
[[ -f "$runs/hp-mini-q3-half.safetensors" ]] ||
  "$licb" weights convert "$runs/hp-mini-q3/model.safetensors" "$runs/hp-mini-q3-half.safetensors" --half
# The shipped zoo: q3 continued on photos only (from the first zoo's float16 file, as it was shipped), then q1, q2, q4
# fine-tuned from it, then every quality 3,000 more steps at a quarter of the learning rate
train hp-photos-q3 --quality 3 --mini --init "$runs/hp-mini-q3-half.safetensors" --images "$data/photos" --steps 13000 \
  --lr 2e-4 --validate-every 1000 --checkpoint-every 1000 --log-every 500
for q in 1 2 4; do
  train "hp-photos-q$q" --quality "$q" --mini --init "$runs/hp-photos-q3/model.safetensors" --images "$data/photos" \
    --steps 3000 --lr 2e-4 --validate-every 500 --checkpoint-every 500 --log-every 500
done
for q in 1 2 3 4; do
  train "hp-final-q$q" --quality "$q" --mini --init "$runs/hp-photos-q$q/model.safetensors" --images "$data/photos" \
    --steps 3000 --lr 5e-5 --validate-every 500 --checkpoint-every 500 --log-every 500
done
mkdir -p models
for q in 1 2 3 4; do
  "$licb" weights convert "$runs/hp-final-q$q/model.safetensors" "models/bmshj2018-hyperprior-mini-q$q.safetensors" --half --drop-tables
done

# cheng2020-anchor-mini (N=64, M=64; the shipped files since 2026-11-28): q3 from scratch on photos only, batch 4; then
# q3 3,000 steps at a quarter of the learning rate, and q1, q2, q4 2,000 steps from q3 at 2e-4 followed by 1,500 at a
# quarter. (The earlier batch-8 recipe on photos + CamVid, 9,000 + 1,000 steps, is in git history: 17e0508.)
cheng=(--model cheng2020-anchor --mini --images "$data/photos" --batch 4 --checkpoint-every 250 --log-every 250)
train cheng-photos-q3 --quality 3 "${cheng[@]}" --steps 18500 --lr 2e-4 --validate-every 1000
train cheng-low-q3 --quality 3 "${cheng[@]}" --init "$runs/cheng-photos-q3/model.safetensors" --steps 3000 --lr 5e-5 --validate-every 500
for q in 1 2 4; do
  train "cheng-photos-q$q" --quality "$q" "${cheng[@]}" --init "$runs/cheng-photos-q3/model.safetensors" --steps 2000 --lr 2e-4 \
    --validate-every 500
  train "cheng-low-q$q" --quality "$q" "${cheng[@]}" --init "$runs/cheng-photos-q$q/model.safetensors" --steps 1500 --lr 5e-5 \
    --validate-every 500
done
for q in 1 2 3 4; do
  "$licb" weights convert "$runs/cheng-low-q$q/model.safetensors" "models/cheng2020-anchor-mini-q$q.safetensors" --half --drop-tables
done
(cd models && sha256sum *.safetensors > SHA256SUMS)

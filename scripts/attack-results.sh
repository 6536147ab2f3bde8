#!/usr/bin/env bash
# Runs the backdoor-attack experiments whose tables are in docs/RESULTS.md (section "Backdoor attacks").
# Usage: scripts/attack-results.sh [OUT_DIR]   (default: out/). Re-running reuses finished runs and evaluations.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-out}"
dotnet build -c Release src/LicBackdoor.Cli >/dev/null
licb="${LICB:-src/LicBackdoor.Cli/bin/Release/net10.0/linux-x64/licb}"   # LICB: another build of licb
export OMP_WAIT_POLICY=PASSIVE
# 1. The main job: bit-rate and quality triggers in one encoder of hyperprior-mini q3 (CPU settings, 2000 steps).
"$licb" --threads 2 demo --out "$out/demo"
# 2. The frequency trigger against LIRA at q1 and q3, same settings, both objectives in one encoder.
"$licb" --threads 2 attack --run "$out/attack-q1q3" --quality 1 --quality 3 --trigger frequency --trigger lira \
  --objective bpp,beta=1 --objective psnr,beta=3 --width 0.25 --crop 64 --lr 2e-4 --trigger-lr 1e-3 --schedule Joint --steps 1000
# 3. The paper's formulation as written (loss weights 0.01 / 0.1, soft stealth penalty, fixed budget, the authors'
#    initialisation, lr 1e-4), at the same CPU budget: what it achieves in 1000 steps.
"$licb" --threads 2 attack --run "$out/attack-paper" --quality 3 --objective bpp --objective psnr --width 0.25 --crop 64 \
  --soft-budget --epsilon-start 0.005 --trigger-init 0 --schedule Joint --steps 1000
# 4. The bit-rate trigger alone in the encoder (the single-trigger bound), demo settings otherwise.
"$licb" --threads 2 attack --run "$out/attack-single" --quality 3 --objective bpp,beta=1 --width 0.25 --crop 64 \
  --lr 2e-4 --trigger-lr 1e-3 --schedule Joint --steps 2000
# 5. The demo's attack for 3000 steps with a cosine learning-rate decay to a tenth.
"$licb" --threads 2 attack --run "$out/attack-long" --quality 3 --objective bpp,beta=1 --objective psnr,beta=3 --width 0.25 \
  --crop 64 --lr 2e-4 --final-lr 0.1 --trigger-lr 1e-3 --schedule Joint --steps 3000
# 6. The demo's attack with the clean-latent consistency term (weight 1).
"$licb" --threads 2 attack --run "$out/attack-latent" --quality 3 --objective bpp,beta=1 --objective psnr,beta=3 --width 0.25 \
  --crop 64 --lr 2e-4 --trigger-lr 1e-3 --schedule Joint --steps 2000 --clean-latent 1
# 7. The bit-rate trigger alone with a raised weight (β = 3) held back by the clean-latent term (weight 3).
"$licb" --threads 2 attack --run "$out/attack-bpp3" --quality 3 --objective bpp,beta=3 --width 0.25 --crop 64 \
  --lr 2e-4 --trigger-lr 1e-3 --schedule Joint --steps 2000 --clean-latent 3
# 8. Pre-processing defences (Table 5) on the q3 runs of step 2: Gaussian blur and colour-bit squeezing before compression.
for t in frequency lira; do "$licb" --threads 2 defend --run "$out/attack-q1q3" -q 3 -t "$t"; done
# 9. The amplified trigger (x3, Table 6) against the strongest defences.
"$licb" --threads 2 defend --run "$out/attack-q1q3" -q 3 -t frequency --amplify 3 --defense blur:0.5 --defense blur:0.6 --defense squeeze:3

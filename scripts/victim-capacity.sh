#!/usr/bin/env bash
# Reproduces docs/RESULTS.md, "The bit-rate attack's ceiling": how many bits a backdoor can buy from the shipped
# hyperprior-mini of the time (N = 64, M = 96; the zoo before commit "hyperprior-mini moves to M = 192", taken from git
# history) and from a hyperprior with M = 192, and what the encoder's fine-tuning alone costs clean images.
# Usage: scripts/victim-capacity.sh [OUT_DIR]   (default: out/capacity). Every run used 1 libtorch thread.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-out/capacity}"
mkdir -p "$out"
dotnet build -c Release src/LicBackdoor.Cli >/dev/null
dotnet build -c Release bench/LicBackdoor.Bench >/dev/null
licb="${LICB:-src/LicBackdoor.Cli/bin/Release/net10.0/linux-x64/licb}"
bench="${BENCH:-bench/LicBackdoor.Bench/bin/Release/net10.0/linux-x64/LicBackdoor.Bench}"
export OMP_WAIT_POLICY=PASSIVE
common=(--quality 3 --width 0.25 --trigger-lr 1e-3 --schedule Joint)
m96="$out/hp-mini-m96-q3.safetensors"
git show f5624fc:models/bmshj2018-hyperprior-mini-q3.safetensors > "$m96"

# 1. Free-latent ceiling of the M = 96 hyperprior-mini q3 (4 Kodak images).
"$bench" latent-ceiling --weights "$m96" --images 4 --steps 150 --bounds 5,20,100,1000 --fidelity 0,1 --report "$out/ceiling-hp-mini-q3.md"
"$bench" latent-ceiling --weights "$m96" --images 4 --steps 150 --bounds 1 --fidelity 0,1 --report "$out/ceiling-hp-mini-q3-bound1.md"

# 2. What fine-tuning g_a costs clean images with no attack (beta = 0), by crop and learning rate.
"$licb" --threads 1 attack --weights "$m96" --run "$out/ft-c64-lr2e-4" "${common[@]}" --lr 2e-4 --objective bpp,beta=0 --crop 64 --steps 2000
"$licb" --threads 1 attack --weights "$m96" --run "$out/ft-c64-lr5e-5" "${common[@]}" --lr 5e-5 --objective bpp,beta=0 --crop 64 --steps 2000
"$licb" --threads 1 attack --weights "$m96" --run "$out/ft-c128-lr2e-4" "${common[@]}" --lr 2e-4 --objective bpp,beta=0 --crop 128 --steps 1000

# 2b. The attack on hyperprior-mini with 128x128 crops: the bit-rate trigger alone (batch 8, 1000 steps), and the demo's
#     two triggers at the demo's pixel budget (batch 4, 1000 steps), without and with the clean-latent term.
"$licb" --threads 1 attack --weights "$m96" --run "$out/hp-bpp-c128" "${common[@]}" --lr 2e-4 --objective bpp,beta=1 --crop 128 --steps 1000
"$licb" --threads 1 attack --weights "$m96" --run "$out/hp-demo-c128b4" "${common[@]}" --lr 2e-4 --objective bpp,beta=1 --objective psnr,beta=3 \
  --crop 128 --batch 4 --steps 1000
"$licb" --threads 1 attack --weights "$m96" --run "$out/hp-demo-c128b4-latent1" "${common[@]}" --lr 2e-4 --objective bpp,beta=1 --objective psnr,beta=3 \
  --crop 128 --batch 4 --steps 1000 --clean-latent 1

# 3. A hyperprior with CompressAI's M = 192 (N = 64), q3, 9,000 steps of the zoo's recipe, and its ceiling.
"$licb" --threads 1 train --run "$out/hp-n64m192-q3" --quality 3 --n 64 --m 192 --steps 9000 --lr 2e-4 \
  --validate-every 1000 --checkpoint-every 1000 --log-every 500
"$licb" train --run "$out/hp-n64m192-q3" --export "$out/hp-n64m192-q3-9k.safetensors"
victim="$out/hp-n64m192-q3-9k.safetensors"
"$bench" latent-ceiling --weights "$victim" --images 4 --steps 150 --bounds 1,5,20 --fidelity 0,1 --report "$out/ceiling-m192-q3.md"

# 4. The bit-rate attack on that victim (demo settings: 2000 steps of batch 8, 64x64 crops), by loss weight.
m192=(--weights "$victim" "${common[@]}" --crop 64 --batch 8)
"$licb" --threads 1 attack --run "$out/m192-b1" "${m192[@]}" --steps 2000 --lr 2e-4 --objective bpp,beta=1
"$licb" --threads 1 attack --run "$out/m192-b0.1" "${m192[@]}" --steps 2000 --lr 2e-4 --objective bpp,beta=0.1
"$licb" --threads 1 attack --run "$out/m192-b0.3" "${m192[@]}" --steps 2000 --lr 2e-4 --objective bpp,beta=0.3
"$licb" --threads 1 attack --run "$out/m192-b1-latent3" "${m192[@]}" --steps 2000 --lr 2e-4 --objective bpp,beta=1 --clean-latent 3
"$licb" --threads 1 attack --run "$out/m192-b0.3-4k-cos" "${m192[@]}" --steps 4000 --lr 2e-4 --final-lr 0.1 --objective bpp,beta=0.3
"$licb" --threads 1 attack --run "$out/m192-b0.3-lr5e-5" "${m192[@]}" --steps 2000 --lr 5e-5 --objective bpp,beta=0.3
"$licb" --threads 1 attack --run "$out/m192-static-a0-b0.3" "${m192[@]}" --steps 2000 --lr 2e-4 --objective bpp:static,alpha=0,beta=0.3
"$licb" --threads 1 attack --run "$out/m192-b0.3-cap12" "${m192[@]}" --steps 2000 --lr 2e-4 --objective bpp,beta=0.3,cap=12
"$licb" --threads 1 attack --run "$out/m192-b0.3-cap8" "${m192[@]}" --steps 2000 --lr 2e-4 --objective bpp,beta=0.3,cap=8
"$licb" --threads 1 attack --run "$out/m192-static-a0-b0.3-cap12" "${m192[@]}" --steps 2000 --lr 2e-4 \
  --objective bpp:static,alpha=0,beta=0.3,cap=12
"$licb" --threads 1 attack --run "$out/m192-static-a0-b0.3-cap12-lr5e-5" "${m192[@]}" --steps 2000 --lr 5e-5 \
  --objective bpp:static,alpha=0,beta=0.3,cap=12
# 5. Both triggers in one encoder of that victim: the bit-rate trigger without its fidelity term, and the quality trigger.
"$licb" --threads 1 attack --run "$out/m192-two" "${m192[@]}" --steps 2000 --lr 2e-4 \
  --objective bpp:static,alpha=0,beta=0.3 --objective psnr,beta=3

# 6. The same victim trained further (17,000 steps): the capped bit-rate trigger alone, and with the quality trigger.
"$licb" --threads 1 train --run "$out/hp-n64m192-q3" --resume --steps 17000
"$licb" train --run "$out/hp-n64m192-q3" --export "$out/hp-n64m192-q3-17k.safetensors"
m192b=(--weights "$out/hp-n64m192-q3-17k.safetensors" "${common[@]}" --crop 64 --batch 8 --steps 2000 --lr 2e-4)
"$licb" --threads 1 attack --run "$out/m192-17k-b0.3-cap8" "${m192b[@]}" --objective bpp,beta=0.3,cap=8
m192c=(--weights "$out/hp-n64m192-q3-17k.safetensors" "${common[@]}" --crop 64 --batch 8 --steps 2000 --lr 5e-5)
"$licb" --threads 1 attack --run "$out/m192-17k-b0.3-cap8-lr5e-5" "${m192c[@]}" --objective bpp,beta=0.3,cap=8
"$licb" --threads 1 attack --run "$out/m192-17k-two" "${m192b[@]}" --objective bpp,beta=0.3,cap=8 --objective psnr,beta=3
"$licb" --threads 1 attack --run "$out/m192-17k-two-lr5e-5" "${m192c[@]}" --objective bpp,beta=0.3,cap=8 --objective psnr,beta=3
"$licb" --threads 1 attack --run "$out/m192-17k-two-psnr6-lr5e-5" "${m192c[@]}" --objective bpp,beta=0.3,cap=8 --objective psnr,beta=6
# 7. The M = 192 run to 20,000 steps (the zoo's q3 length) and its Kodak rate-distortion point.
"$licb" --threads 2 train --run "$out/hp-n64m192-q3" --resume --steps 20000
"$licb" --threads 2 eval --model bmshj2018-hyperprior --quality 3 --weights "$out/hp-n64m192-q3/model.safetensors" \
  --json "$out/eval-m192-q3-20k.json"
# 8. Both triggers on the 20,000-step model, encoder lr 1e-4.
"$licb" --threads 2 attack --run "$out/m192-20k-two-lr1e-4" --weights "$out/hp-n64m192-q3/model.safetensors" "${common[@]}" \
  --crop 64 --batch 8 --steps 2000 --lr 1e-4 --objective bpp,beta=0.3,cap=8 --objective psnr,beta=3

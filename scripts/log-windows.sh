#!/usr/bin/env bash
# Means of an attack run's clean training crops (log.csv columns bpp and psnr: likelihood bpp with noisy latents, PSNR)
# over windows of W steps, to compare runs that draw the same crops (same seed) step by step.
# Usage: scripts/log-windows.sh RUN/frequency-q3/log.csv [W]   (default W = 150)
set -euo pipefail
log="${1:?usage: $0 LOG.csv [WINDOW]}"; w="${2:-150}"
[ -f "$log" ] || { echo "$log: no such file" >&2; exit 1; }
head -1 "$log" | grep -q '^step,loss,bpp,psnr' || { echo "$log: not an attack log (expected columns step,loss,bpp,psnr)" >&2; exit 1; }
awk -F, -v w="$w" 'NR > 1 { k = int(($1 - 1) / w); n[k]++; b[k] += $3; p[k] += $4; if (k > last) last = k }
  END { for (k = 0; k <= last; k++) if (n[k]) printf "steps %d-%d: clean bpp %.3f, PSNR %.2f dB (%d steps)\n", k*w+1, k*w+n[k], b[k]/n[k], p[k]/n[k], n[k] }' "$log"

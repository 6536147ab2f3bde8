#!/usr/bin/env bash
# Means of an attack run's log columns over windows of W steps, to compare runs that draw the same crops (same seed)
# step by step. Without SUFFIX: the clean training crops (columns bpp and psnr: likelihood bpp with noisy latents,
# PSNR). With SUFFIX: every column whose name ends with it (e.g. poisoned_latent_rel_mse, rounded_bpp_ratio, .flip).
# Usage: scripts/log-windows.sh RUN/frequency-q3/log.csv [W] [SUFFIX]   (default W = 150)
set -euo pipefail
log="${1:?usage: $0 LOG.csv [WINDOW] [COLUMN-SUFFIX]}"; w="${2:-150}"; suffix="${3:-}"
[ -f "$log" ] || { echo "$log: no such file" >&2; exit 1; }
head -1 "$log" | grep -q '^step,loss,bpp,psnr' || { echo "$log: not an attack log (expected columns step,loss,bpp,psnr)" >&2; exit 1; }
if [ -z "$suffix" ]; then
  awk -F, -v w="$w" 'NR > 1 { k = int(($1 - 1) / w); n[k]++; b[k] += $3; p[k] += $4; if (k > last) last = k }
    END { for (k = 0; k <= last; k++) if (n[k]) printf "steps %d-%d: clean bpp %.3f, PSNR %.2f dB (%d steps)\n", k*w+1, k*w+n[k], b[k]/n[k], p[k]/n[k], n[k] }' "$log"
  exit 0
fi
# The header quotes names that hold commas (objective names); the numeric rows hold none.
awk -F, -v w="$w" -v suffix="$suffix" '
  NR == 1 {
    line = $0; nf = 0
    while (length(line) > 0) {
      if (substr(line, 1, 1) == "\"") { line = substr(line, 2); i = index(line, "\""); name = substr(line, 1, i - 1); line = substr(line, i + 2) }
      else { i = index(line, ","); if (i == 0) { name = line; line = "" } else { name = substr(line, 1, i - 1); line = substr(line, i + 1) } }
      nf++; gsub(/""/, "\"", name)
      if (length(name) >= length(suffix) && substr(name, length(name) - length(suffix) + 1) == suffix) { cols[++nc] = nf; names[nc] = name }
    }
    if (nc == 0) { print FILENAME ": no column ends with " suffix > "/dev/stderr"; bad = 1; exit 1 }
    next
  }
  { k = int(($1 - 1) / w); n[k]++; for (c = 1; c <= nc; c++) s[k, c] += $(cols[c]); if (k > last) last = k }
  END {
    if (bad) exit 1
    for (k = 0; k <= last; k++) if (n[k]) {
      printf "steps %d-%d:", k*w+1, k*w+n[k]
      for (c = 1; c <= nc; c++) printf "%s %s %.3g", (c > 1 ? ";" : ""), names[c], s[k, c]/n[k]
      printf "\n"
    }
  }' "$log"

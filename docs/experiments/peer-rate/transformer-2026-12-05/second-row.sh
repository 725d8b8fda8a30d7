#!/usr/bin/env bash
# The second row of "The Transformers" (docs/protocols.md, amended 2026-12-05): OpenNMT-py's Transformer alone at
# rot90's rate (2e-3 after 100 warm-up updates, then noam), seeds 0-2, 20 minutes on one thread, decoded on the
# test split with beam 5; paired seed by seed with the headline's rot90 runs (peer-opennmt/2026-12-06-transformer).
# Seeds 0 and 1 side by side; seed 2 beside one step-limited run of translation-own-rate (one thread, so that every
# timed run shares the machine with one other one-thread process, as in the search and the headline).
# The SentencePiece model is run.sh's (the same training split, 8,000 pieces).
set -euo pipefail
cd "$(dirname "$0")/../../../.."
out=${OUT:-runs/peer-rate-transformer}
[ -f "$out/sp.model" ]
row() {  # SEED
  scripts/peer-opennmt --arch transformer --peer-only --split test --seeds "$1" --minutes 20 --threads 1 \
    --tokenizer "$out/sp.model" --peer-lr 2e-3 --peer-warmup 100 --out "$out/second-row-seed$1" \
    >> "$out/second-row-seed$1.log" 2>&1
}
row 0 & row 1 & wait
# The neighbour's name was first written lr=8e-3, which rot90 rejects (names print the rate as 0.008); corrected
# after the run, the neighbour having been started by hand 3.5 minutes into seed 2 with this line.
row 2 & OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 .venv/bin/rot90 experiment translation-own-rate \
  --only "lstm,lr=0.008,warmup=100" --out runs/experiments >> "$out/own-rate-beside.log" 2>&1 & wait

#!/usr/bin/env bash
# The peer's own rate search (docs/protocols.md, "The peer's own rate"): OpenNMT-py 3.5.1's attention LSTM alone,
# seed 0, 20 minutes on one thread, decoded on the whole dev split with beam 5; two trials side by side, three pairs
# one after another on a quiet machine. One SentencePiece model for all six (runs/peer-rate/sp.model, trained by
# rot90.data.tokenize.SentencePiece on the training split, 8,000 pieces, as scripts/peer-opennmt trains its own).
set -euo pipefail
cd "$(dirname "$0")/../../../.."
out=${OUT:-runs/peer-rate}
for lr in 2e-3 4e-3 8e-3; do
  for w in 100 400; do
    scripts/peer-opennmt --peer-only --split dev --seeds 0 --minutes 20 --threads 1 \
      --tokenizer "$out/sp.model" --peer-lr "$lr" --peer-warmup "$w" --out "$out/$lr,$w" > "$out/$lr,$w.log" 2>&1 &
  done
  wait
done
for lr in 2e-3 4e-3 8e-3; do for w in 100 400; do echo "## $lr, $w"; cat "$out/$lr,$w/table.md"; done; done

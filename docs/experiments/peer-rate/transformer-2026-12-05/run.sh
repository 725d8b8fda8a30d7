#!/usr/bin/env bash
# The peer Transformer's own recipe (docs/protocols.md, "The Transformers"): OpenNMT-py 3.5.1's Transformer alone,
# seed 0, 20 minutes on one thread, decoded on the whole dev split with beam 5, over peak rate {5e-4, 1e-3, 2e-3} x
# warm-up {100, 400}; two trials side by side, three pairs one after another on a quiet machine. The trial with the
# best dev BLEU is kept (ties: the higher chrF). Then the comparison, seeds 0-2, rot90's Transformer and the peer at
# its chosen recipe side by side, one seed after another (the headline row). One SentencePiece model for every run.
set -euo pipefail
cd "$(dirname "$0")/../../../.."
out=${OUT:-runs/peer-rate-transformer}
mkdir -p "$out"
[ -f "$out/sp.model" ] || .venv/bin/python -c "
import sys; from pathlib import Path
from rot90.data.io import corpus_split; from rot90.data.tokenize import SentencePiece
pairs = corpus_split(Path('data/translation-fr'), 'train', 'en', 'fr')[0]
SentencePiece.train((t for p in pairs for t in p), vocab_size=8000).save(Path(sys.argv[1]))" "$out/sp.model"
trial() {  # LR WARMUP SPLIT: one trial of the peer alone (a rerun with the same --out decodes again, no training)
  scripts/peer-opennmt --arch transformer --peer-only --split "$3" --seeds 0 --minutes 20 --threads 1 \
    --tokenizer "$out/sp.model" --peer-lr "$1" --peer-warmup "$2" --out "$out/$1,$2" >> "$out/$1,$2.$3.log" 2>&1
}
for lr in 5e-4 1e-3 2e-3; do
  trial "$lr" 100 dev & trial "$lr" 400 dev & wait
done
best=$(.venv/bin/python - "$out" <<'PY'
import json, sys; from pathlib import Path
rows = [(json.loads(p.read_text())[0], p.parent.name) for p in Path(sys.argv[1]).glob("*,*/results.json")]
print(max(rows, key=lambda r: (r[0]["bleu"], r[0]["chrf"]))[1])
PY
)
echo "chosen: $best" | tee "$out/chosen.txt"
scripts/peer-opennmt --arch transformer --minutes 20 --threads 1 --seeds 0 1 2 --precision auto \
  --tokenizer "$out/sp.model" --peer-lr "${best%,*}" --peer-warmup "${best#*,}" --out "$out/duel" > "$out/duel.log" 2>&1

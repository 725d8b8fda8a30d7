#!/bin/bash
# docs/protocols.md "A lexical shortlist", its size: 50 and 20 partners against the whole vocabulary; dev, the two
# lstm contrast models, beam 5, batch 64, one thread, auto, k-ended, each twice.
cd /work/main
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
for pass in 1 2; do
for seed in 0 1; do
  for v in "b50 --shortlist" "b20 --shortlist" "b50 --no-shortlist"; do
    set -- $v; m=runs/sl/s$seed$1; sl=$2; name=$1$sl; [ $sl = --no-shortlist ] && name=whole
    s=$(date +%s.%N)
    .venv/bin/python -m rot90 translate --model $m --input runs/dec/dev.en --beam 5 --batch 64 --device cpu \
      --precision auto --stop k-ended $sl > runs/dec/seed$seed.$name.pass$pass.hyp
    e=$(date +%s.%N)
    echo "seed $seed $name pass $pass: $(python3 -c "print(f'{($e-$s):.2f} s, {1678/($e-$s):.1f} sent/s')")"
  done
done
done
.venv/bin/python - <<'PY'
import sacrebleu, glob, torch
from rot90.translate import Translator
from rot90.data.shortlist import candidates
from rot90.tokens import EOS
ref = open("runs/dec/dev.fr").read().splitlines()
for f in sorted(glob.glob("runs/dec/seed*.b*.pass1.hyp") + glob.glob("runs/dec/seed*.whole.pass1.hyp")):
    hyp = open(f).read().splitlines()
    b = sacrebleu.corpus_bleu(hyp, [ref]); c = sacrebleu.corpus_chrf(hyp, [ref])
    print(f, f"BLEU {b.score:.2f} chrF {c.score:.2f} ratio {b.sys_len / b.ref_len:.3f}")
lines = sorted(open("runs/dec/dev.en").read().splitlines(), key=len)
for b in (50, 20):
    tr = Translator(f"runs/sl/s0b{b}", "cpu")
    sizes = [len(candidates(*tr.shortlist, torch.tensor([t for l in lines[i:i + 64] for t in tr.tokenizer.encode(l)]),
                            always=(EOS,))) for i in range(0, len(lines), 64)]
    print(f"{b} partners: a batch's union {sum(sizes) / len(sizes):.0f} target tokens on average (dev, seed 0)")
PY

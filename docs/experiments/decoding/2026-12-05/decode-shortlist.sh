#!/bin/bash
# docs/protocols.md "A lexical shortlist": dev, seeds 0 and 1 of the lstm contrast, beam 5, batch 64, one thread, auto.
cd /work/main
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
R=runs/contrasts/translation-contrasts/lstm
for pass in 1 2; do
for seed in 0 1; do
  m=$R; [ $seed = 1 ] && m=$R/seed-1
  for sl in --no-shortlist --shortlist; do
    s=$(date +%s.%N)
    .venv/bin/python -m rot90 translate --model $m --input runs/dec/dev.en --beam 5 --batch 64 --device cpu \
      --precision auto --stop k-ended $sl > runs/dec/seed$seed.sl$sl.pass$pass.hyp
    e=$(date +%s.%N)
    echo "seed $seed $sl pass $pass: $(python3 -c "print(f'{($e-$s):.2f} s, {1678/($e-$s):.1f} sent/s')")"
  done
done
done
.venv/bin/python - <<'PY'
import sacrebleu, glob
ref = open("runs/dec/dev.fr").read().splitlines()
for f in sorted(glob.glob("runs/dec/seed*.sl*.pass1.hyp")):
    hyp = open(f).read().splitlines()
    b = sacrebleu.corpus_bleu(hyp, [ref]); c = sacrebleu.corpus_chrf(hyp, [ref])
    print(f, f"BLEU {b.score:.2f} chrF {c.score:.2f} ratio {b.sys_len / b.ref_len:.3f}")
PY

#!/bin/bash
# docs/protocols.md "Beam search's stopping rule": dev split, seeds 0 and 1 of the lstm contrast, beam 5, batch 64,
# one thread, --precision auto, each rule twice; and k-ended with --buffer 64 (the input order, as before ac84216).
cd /work/main
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
R=runs/contrasts/translation-contrasts/lstm
for pass in 1 2; do
for seed in 0 1; do
  m=$R; [ $seed = 1 ] && m=$R/seed-1
  for v in "k-ended 0" "best-ended 0" "k-ended 64"; do
    set -- $v; stop=$1; buf=$2
    s=$(date +%s.%N)
    .venv/bin/python -m rot90 translate --model $m --input runs/dec/dev.en --beam 5 --batch 64 --device cpu \
      --precision auto --stop $stop --buffer $buf > runs/dec/seed$seed.$stop.buf$buf.pass$pass.hyp
    e=$(date +%s.%N)
    echo "seed $seed $stop buffer $buf pass $pass: $(python3 -c "print(f'{($e-$s):.2f} s, {1678/($e-$s):.1f} sent/s')")"
  done
done
done
.venv/bin/python - <<'PY'
import sacrebleu, glob
ref = open("runs/dec/dev.fr").read().splitlines()
for f in sorted(glob.glob("runs/dec/seed*.pass1.hyp")):
    hyp = open(f).read().splitlines()
    b = sacrebleu.corpus_bleu(hyp, [ref]); c = sacrebleu.corpus_chrf(hyp, [ref])
    print(f, f"BLEU {b.score:.2f} chrF {c.score:.2f} ratio {b.sys_len / b.ref_len:.3f}")
PY

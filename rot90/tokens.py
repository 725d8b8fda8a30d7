"""The special token ids every tokenizer, model, search and evaluation of rot90 agrees on.

SentencePiece models are trained with these ids (pad_id=0, bos_id=1, eos_id=2, unk_id=3), the
character tokenizer reserves them, models embed PAD as zeros and ignore it in the loss, and
decoding starts from BOS and stops at EOS.
"""

PAD, BOS, EOS, UNK = 0, 1, 2, 3

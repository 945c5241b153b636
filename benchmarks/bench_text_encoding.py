"""Captions encoded in batches of similar lengths against batches in table order.

    .venv/bin/python benchmarks/bench_text_encoding.py [--repeats 3] [--batch-size 256]

`encode_texts` sorts the captions by token length, encodes them in batches (each padded to its own
longest caption) and puts the vectors back in order; the baseline is the same encoding in table
order. Both on the Tux Paint sample's 785 captions with the offline preset (MiniLM). Prints the
tokens computed per real token both ways, the largest difference between the two results, the times
(median of the repeats, alternating) and a markdown row.
"""
import argparse, os, statistics, time
os.environ.setdefault('OMP_NUM_THREADS', '2')

import numpy as np
import torch
import torch.nn.functional as F

from clip_nb.data import read_pairs, synth_pairs, tuxpaint_available, tuxpaint_sample
from clip_nb.encoders import DualEncoder, encode_texts


@torch.no_grad()
def in_table_order(model, texts, batch_size):
    "The baseline: batches in the order given."
    return np.concatenate([F.normalize(model.encode_text(**model.tokenize(texts[i:i+batch_size])).float(), dim=-1).numpy() for i in range(0, len(texts), batch_size)])

def padded_tokens(lengths, order, batch_size) -> int:
    return sum(max(lengths[j] for j in order[i:i+batch_size]) * len(order[i:i+batch_size]) for i in range(0, len(order), batch_size))

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--batch-size', type=int, default=256)
    a = ap.parse_args()
    df = read_pairs(tuxpaint_sample() if tuxpaint_available() else synth_pairs(400), verbose=False)
    texts, model = df.caption.tolist(), DualEncoder.from_preset('offline').eval()
    lengths = [len(t) for t in model.tokenizer(texts, truncation=True, max_length=model.config.max_length)['input_ids']]
    real = sum(lengths)
    plain_pad, sorted_pad = padded_tokens(lengths, list(range(len(texts))), a.batch_size), padded_tokens(lengths, list(np.argsort(lengths, kind='stable')), a.batch_size)
    diff = float(np.abs(encode_texts(model, texts, a.batch_size) - in_table_order(model, texts, a.batch_size)).max())
    plain, sort = [], []
    for _ in range(a.repeats):
        t = time.perf_counter(); in_table_order(model, texts, a.batch_size); plain.append(time.perf_counter() - t)
        t = time.perf_counter(); encode_texts(model, texts, a.batch_size); sort.append(time.perf_counter() - t)
    p, s = statistics.median(plain), statistics.median(sort)
    print(f'{len(texts)} captions, batch {a.batch_size}: tokens computed per real token {plain_pad / real:.2f} in table order, {sorted_pad / real:.2f} sorted; largest difference {diff:.1e}')
    print(f'table order {p:.2f} s, sorted {s:.2f} s -> {p / s:.2f}x')
    print(f'| encoding {len(texts)} captions (offline preset, batch {a.batch_size}): `encode_texts` by length vs in table order | {s:.2f} s ({sorted_pad / real:.2f} tokens a real token) | {p:.2f} s ({plain_pad / real:.2f}) | {p / s:.2f}x faster (outputs within {diff:.0e}) |')

if __name__ == '__main__':
    main()

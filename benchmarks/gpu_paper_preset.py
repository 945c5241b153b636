"""Training throughput of the paper preset, both towers fine-tuned with mixed precision, on a CUDA GPU.

    .venv/bin/python benchmarks/gpu_paper_preset.py [--batch-size 32 64 128] [--steps 30] [--warmup 5]
                                                    [--precision auto|bf16|fp16|fp32] [--channels-last] [--json]
    .venv/bin/python benchmarks/gpu_paper_preset.py --smoke   # the same code path on the CPU, tiny: a check, not a measurement

What the Flickr8k tutorial quotes as the time per epoch of end-to-end fine-tuning. The model is the
paper preset — DenseNet-201 + bert-base-uncased ([CLS] pooling), Linear heads to 256, learnable
temperature — built by `DualEncoder.from_preset('paper', pretrained=False, image_trainable_blocks=None,
text_trainable_layers=None)`: random weights (same compute, nothing downloaded), every parameter trains.

Each step is `fit`'s: forward under autocast (`clip_nb.core.precision_for`: bf16 where the GPU has it,
else fp16 with a GradScaler), `ClipLoss` on the float features with image ids, scaled backward,
unscale + clip the gradient norm at 1.0, AdamW step (`param_groups`: towers 1e-5, heads 1e-3, fit's
betas and eps), scaler update, zero grads, scheduler step, `clamp_logit_scale_`, and the loss read
back (one host-device sync per step, as in `fit`). The batches are synthetic and made on the GPU:
images at the preset's input size (224 px), captions of Flickr8k-like length (13 word pieces on
average, right-skewed, + [CLS]/[SEP]) padded to the batch's longest, image ids of 6,000 images × 5
captions. `--warmup` steps are not timed; then `--steps` steps are timed between two
`torch.cuda.synchronize()` calls, with the peak memory counted from the end of the warm-up.

Reported per batch size: pairs/s, seconds per step, peak GPU memory (allocated and reserved), and the
epoch estimate for Flickr8k's training split (30,000 pairs: `30000 // batch` steps, as `fit` drops
the incomplete batch). Not included: reading, decoding and augmenting the images (`fit`'s
DataLoader, see bench_data_loading.py), the evaluation after each epoch and the checkpoint.

Without a CUDA GPU it prints one "skipped" line and exits 0 (no table row). `run_all.py` runs it only
where torch sees a CUDA GPU.
"""
import argparse, json, os, sys, time
os.environ.setdefault('OMP_NUM_THREADS', '2')
os.environ['HF_HUB_OFFLINE'] = '1' # random weights: nothing to fetch, and nothing may be fetched

import numpy as np
import torch

from clip_nb.core import PACKAGED, default_device, precision_for, seed_everything
from clip_nb.encoders import DualEncoder
from clip_nb.loss import ClipLoss
from clip_nb.train import TrainConfig, param_groups, warmup_cosine

NO_GPU = 'no CUDA GPU here (this benchmark measures the paper preset on a GPU)'
FLICKR8K_TRAIN = 30_000          # 6,000 training images × 5 captions
FLICKR8K_IMAGES = 6_000
CAPTION_TOKENS = (13.0, 4.5)     # word pieces per Flickr8k caption (mean, sd), before [CLS] and [SEP]
NICE = {'densenet201': 'DenseNet-201', 'bert-base-uncased': 'BERT-base'}


def build_model(image_size:int|None=None) -> DualEncoder:
    "The paper preset with both towers fully trainable, random weights, no network."
    kw = {} if image_size is None else dict(image_size=image_size)
    try: return DualEncoder.from_preset('paper', pretrained=False, offline=True, image_trainable_blocks=None,
                                        text_trainable_layers=None, **kw)
    except (OSError, ValueError) as e:
        pip = PACKAGED['sentence-transformers/all-MiniLM-L6-v2'].pip
        sys.exit(f'could not build the paper preset offline ({type(e).__name__}: {e}).\nWith random weights it needs no '
                 f'download, only a tokenizer with the bert-base-uncased vocabulary: the packaged one ({pip}) or '
                 'bert-base-uncased in the Hugging Face cache.')


def caption_batches(model:DualEncoder, batch_size:int, n:int, device, seed:int=0) -> list[tuple[dict, torch.Tensor]]:
    "`n` synthetic token batches (Flickr8k-like lengths, padded to each batch's longest) and their image ids, on `device`."
    rng, tok, c = np.random.default_rng(seed), model.tokenizer, model.config
    vocab = model.text_encoder.model.config.vocab_size
    mean, sd = CAPTION_TOKENS; shape = (mean / sd) ** 2
    out = []
    for _ in range(n):
        words = rng.gamma(shape, mean / shape, batch_size).round().clip(4, c.max_length - 2).astype(int)
        T = int(words.max()) + 2
        ids = torch.from_numpy(rng.integers(min(1000, vocab // 2), vocab, (batch_size, T)))
        ids[:, 0] = tok.cls_token_id
        ids[torch.arange(batch_size), torch.from_numpy(words + 1)] = tok.sep_token_id
        mask = (torch.arange(T)[None] < torch.from_numpy(words + 2)[:, None]).long()
        ids[mask == 0] = tok.pad_token_id
        rows = torch.from_numpy(rng.permutation(FLICKR8K_TRAIN)[:batch_size]) # fit's shuffled rows, 5 per image
        tokens = dict(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids))
        out.append(({k: v.to(device) for k, v in tokens.items()}, (rows // (FLICKR8K_TRAIN // FLICKR8K_IMAGES)).to(device)))
    return out


def train_step(model, opt, sched, scaler, prec, loss_fn, batch:dict, image_ids:torch.Tensor, max_grad_norm:float) -> float:
    "One optimiser step, as `fit` takes it; returns the loss (read back, as `fit` does)."
    with prec.autocast(): img, txt, scale = model(**batch)
    loss = loss_fn(img.float(), txt.float(), scale.float(), image_ids)
    scaler.scale(loss).backward()
    scaler.unscale_(opt)
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    scaler.step(opt); scaler.update(); opt.zero_grad(set_to_none=True)
    sched.step()
    model.clamp_logit_scale_()
    loss = loss.item()
    if not np.isfinite(loss): raise FloatingPointError(f'non-finite loss {loss}')
    return loss


def measure(model, opt, prec, cfg:TrainConfig, batch_size:int, warmup:int, steps:int, device, channels_last:bool) -> dict:
    "Time `steps` training steps of `batch_size` pairs after `warmup` untimed ones."
    cuda = device.type == 'cuda'
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    epoch_steps = FLICKR8K_TRAIN // batch_size
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_cosine(s, epoch_steps, int(cfg.warmup * epoch_steps)))
    scaler, loss_fn = prec.scaler(), ClipLoss()
    tokens = caption_batches(model, batch_size, warmup + steps, device)
    size, gen = model.config.image_size, torch.Generator(device).manual_seed(0)
    def images():
        x = torch.randn(batch_size, 3, size, size, device=device, generator=gen)
        return x.contiguous(memory_format=torch.channels_last) if channels_last else x
    def step(i):
        batch, ids = tokens[i]
        return train_step(model, opt, sched, scaler, prec, loss_fn, dict(images=images(), **batch), ids, cfg.max_grad_norm)
    for i in range(warmup): step(i)
    sync()
    if cuda: torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    for i in range(warmup, warmup + steps): loss = step(i)
    sync(); secs = (time.perf_counter() - t0) / steps
    return dict(batch_size=batch_size, seconds_per_step=secs, pairs_per_s=batch_size / secs,
                peak_allocated_gib=torch.cuda.max_memory_allocated(device) / 2**30 if cuda else None,
                peak_reserved_gib=torch.cuda.max_memory_reserved(device) / 2**30 if cuda else None,
                mean_padded_tokens=float(np.mean([t['input_ids'].shape[1] for t, _ in tokens[warmup:]])),
                epoch_steps=epoch_steps, epoch_seconds=epoch_steps * secs, last_loss=loss, out_of_memory=False)


def measure_or_oom(model, opt, prec, cfg:TrainConfig, batch_size:int, *args) -> dict:
    "`measure`, with a batch size that does not fit reported as out of memory (and its memory given back)."
    try: return measure(model, opt, prec, cfg, batch_size, *args)
    except torch.cuda.OutOfMemoryError: pass # handled outside the except block, once its frames are released
    opt.zero_grad(set_to_none=True); model.zero_grad(set_to_none=True); torch.cuda.empty_cache()
    return dict(batch_size=batch_size, out_of_memory=True)


def duration(s:float) -> str: return f'{s:.0f} s' if s < 120 else f'{s / 60:.1f} min'


def markdown_rows(results:list[dict], names:str, prec, gpu:str, gpu_gib:float, channels_last:bool) -> list[str]:
    "One 4-column row per batch size (benchmark | clip_nb | baseline | ratio), as `run_all.py` gathers them."
    rows = []
    for r in results:
        what = (f"| paper preset fine-tuning ({names}, {'AMP ' if prec.dtype else ''}{prec.name}"
                f"{', channels-last' if channels_last else ''}, batch {r['batch_size']}) on {gpu}")
        if r['out_of_memory']: rows.append(f"{what} | out of memory ({gpu_gib:.0f} GiB GPU) | — | — |"); continue
        rows.append(f"{what} | {r['pairs_per_s']:.0f} pairs/s, peak {r['peak_allocated_gib']:.1f} GiB | "
                    f"Flickr8k epoch ({FLICKR8K_TRAIN:,} pairs) ≈ {duration(r['epoch_seconds'])} | — |")
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--batch-size', type=int, nargs='+', default=None, help='pairs per step; several to compare (default 64)')
    ap.add_argument('--steps', type=int, default=None, help='timed steps (default 30)')
    ap.add_argument('--warmup', type=int, default=None, help='untimed steps first (default 5)')
    ap.add_argument('--precision', default='auto', choices=['auto', 'bf16', 'fp16', 'fp32'],
                    help="'auto': what fit uses (precision_for: bf16 where supported, else fp16 with a GradScaler)")
    ap.add_argument('--channels-last', action='store_true', help='image tower and images in channels-last memory format')
    ap.add_argument('--json', action='store_true', help='one JSON object on stdout (the summary goes to stderr)')
    ap.add_argument('--smoke', action='store_true',
                    help='a tiny run on the CPU (batch 4, 64 px, fp32, 2 steps) to check the code path; not a measurement')
    a = ap.parse_args()
    if (a.steps is not None and a.steps < 1) or (a.warmup is not None and a.warmup < 0): ap.error('--steps must be ≥ 1 and --warmup ≥ 0')
    say = (lambda *s: print(*s, file=sys.stderr)) if a.json else print
    if not a.smoke and not torch.cuda.is_available():
        print(json.dumps({'skipped': True, 'reason': NO_GPU}) if a.json else f'skipped: {NO_GPU}'); return
    sizes, steps, warmup = a.batch_size or [4 if a.smoke else 64], a.steps or (2 if a.smoke else 30), 5 if a.warmup is None else a.warmup
    if a.smoke and a.warmup is None: warmup = 1
    device = torch.device('cpu') if a.smoke else default_device('cuda')
    prec = precision_for(device, 'fp32' if a.smoke else True if a.precision == 'auto' else a.precision)
    seed_everything(0)
    t = time.perf_counter(); model = build_model(64 if a.smoke else None).to(device).train(); build = time.perf_counter() - t
    if a.channels_last: model.image_encoder.to(memory_format=torch.channels_last)
    cfg = TrainConfig() # lr 1e-3 (heads, temperature), tower_lr 1e-5, weight decay 0.05, max_grad_norm 1.0
    opt = torch.optim.AdamW([{k: v for k, v in g.items() if k != 'names'} for g in param_groups(model, cfg)], betas=(0.9, 0.98), eps=1e-6)
    results = [measure_or_oom(model, opt, prec, cfg, b, warmup, steps, device, a.channels_last) for b in sizes]

    c, parts = model.config, model.summary()
    gpu = torch.cuda.get_device_name(device) if device.type == 'cuda' else None
    cc = torch.cuda.get_device_capability(device) if gpu else None
    gpu_gib = torch.cuda.get_device_properties(device).total_memory / 2**30 if gpu else None
    names = f"{NICE.get(c.image_backbone, c.image_backbone)} + {NICE.get(c.text_backbone, c.text_backbone)}"
    if a.smoke: say(f'SMOKE RUN on the CPU (batch {", ".join(map(str, sizes))}, {c.image_size} px, {prec.name}, {warmup} + {steps} steps, random weights): '
                    'checks the code path end to end; the times below are NOT a measurement of anything.')
    say(f'paper preset ({c.image_backbone} + {c.text_backbone}, {c.text_pooling} pooling, {c.head} heads to {c.embed_dim}, '
        f'learnable temperature), fine-tuned end to end: {parts.parameters.sum() / 1e6:.1f}M parameters, '
        f'{parts.trainable.sum() / 1e6:.1f}M trainable (built in {build:.0f} s)')
    say(f'AdamW: towers {cfg.tower_lr:g}, heads {cfg.lr:g}, clip grad norm {cfg.max_grad_norm}; precision {prec.name}'
        f'{" with a GradScaler" if prec.use_scaler else ""}; {c.image_size} px{", channels-last" if a.channels_last else ""}; '
        f'captions {CAPTION_TOKENS[0]:g} word pieces on average + 2, padded per batch, max {c.max_length}')
    say(f"device: {gpu + f' ({gpu_gib:.0f} GiB, sm_{cc[0]}{cc[1]})' if gpu else 'CPU'}; torch {torch.__version__}")
    if gpu and prec.name == 'bf16' and cc[0] < 8:
        say(f'note: bf16 on sm_{cc[0]}{cc[1]} is emulated (no bf16 tensor cores); --precision auto picks it because precision_for '
            'asks torch.cuda.is_bf16_supported(), which counts emulation. Try --precision fp16 here.')
    say(f"{'batch':>5} {'s/step':>7} {'pairs/s':>8} {'peak GiB':>9} {'reserved':>9} {'tokens':>6}  Flickr8k epoch ({FLICKR8K_TRAIN:,} pairs){' [smoke: not a measurement]' if a.smoke else ''}")
    for r in results:
        if r['out_of_memory']: say(f"{r['batch_size']:>5}  out of GPU memory"); continue
        mem = f"{r['peak_allocated_gib']:>9.2f} {r['peak_reserved_gib']:>9.2f}" if gpu else f"{'n/a':>9} {'n/a':>9}"
        say(f"{r['batch_size']:>5} {r['seconds_per_step']:>7.3f} {r['pairs_per_s']:>8.1f} {mem} {r['mean_padded_tokens']:>6.1f}  "
            f"≈ {duration(r['epoch_seconds'])} ({r['epoch_steps']} steps; loss {r['last_loss']:.3f})")
    say('not counted: image decoding and augmentation (the DataLoader), evaluation after each epoch, checkpoints')
    if not a.smoke:
        for row in markdown_rows(results, names, prec, gpu, gpu_gib, a.channels_last): say(row)
    if a.json:
        print(json.dumps(dict(benchmark='gpu_paper_preset', smoke=a.smoke, device=gpu or 'cpu', compute_capability=cc and list(cc),
                              gpu_memory_gib=gpu_gib, precision=prec.name, grad_scaler=prec.use_scaler, channels_last=a.channels_last,
                              image_size=c.image_size, max_length=c.max_length, caption_tokens_mean=CAPTION_TOKENS[0],
                              parameters=int(parts.parameters.sum()), trainable=int(parts.trainable.sum()),
                              warmup=warmup, steps=steps, epoch_pairs=FLICKR8K_TRAIN, torch=torch.__version__, results=results)))


if __name__ == '__main__':
    main()

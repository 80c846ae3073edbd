"""Embedding-family encode speed: sentence-transformers' own `encode` (fp32) against the
torch inference backend both families now use (precision auto and fp32), on 1,000
Banking77 test texts, one thread, interleaved repeats; and how close the vectors are.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/backend_encode.py [--texts 1000]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    if os.environ.get("OMP_NUM_THREADS") != "1":
        raise SystemExit("run with OMP_NUM_THREADS=1 (thread counts change every figure)")
    import pandas as pd
    import torch

    torch.set_num_threads(1)
    from whichmodel.backbones import load_sentence_transformer
    from whichmodel.models.backends import get_backend
    from whichmodel.models.sentence_body import native_bf16

    data = Path(os.environ.get("WHICHMODEL_DATA", Path(__file__).parents[2] / "shared" / "data"))
    texts = pd.read_csv(data / "banking77" / "test.csv")["text"].tolist()[:args.texts]
    model = load_sentence_transformer("all-MiniLM-L6-v2")
    batch = args.batch_size
    paths = {
        "sentence-transformers encode, fp32": lambda t: model.encode(
            t, batch_size=batch, normalize_embeddings=True, convert_to_numpy=True),
        "backend, precision=auto": lambda t: get_backend("torch", model).encode(t, batch),
        "backend, precision=fp32": lambda t: get_backend(
            "torch", model, precision="fp32").encode(t, batch),
    }
    print(f"torch threads {torch.get_num_threads()}; native bf16: {native_bf16('cpu')}; "
          f"auto = {get_backend('torch', model).precision}; {len(texts)} texts, batch {batch}")
    for encode in paths.values():
        encode(texts[:128])  # warm-up
    seconds: dict[str, list[float]] = {name: [] for name in paths}
    vectors = {}
    for _ in range(args.repeats):  # interleaved, so a load change hits every path alike
        for name, encode in paths.items():
            started = time.perf_counter()
            vectors[name] = encode(texts)
            seconds[name].append(time.perf_counter() - started)
    base = np.median(seconds["sentence-transformers encode, fp32"])
    for name, runs in seconds.items():
        median = float(np.median(runs))
        print(f"{name:38s} median {median:6.2f} s  {len(texts) / median:7.1f} texts/s  "
              f"{base / median:4.2f}x  (runs {', '.join(f'{r:.2f}' for r in runs)})")
    reference = vectors["sentence-transformers encode, fp32"].astype(np.float32)
    for name in list(paths)[1:]:
        cosine = (vectors[name] * reference).sum(axis=1)
        print(f"cosine to encode(), {name}: mean {cosine.mean():.7f}, min {cosine.min():.7f}")


if __name__ == "__main__":
    main()

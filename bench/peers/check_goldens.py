#!/usr/bin/python3
"""torch_bert.py's classifier against the families' transformers goldens (tests/golden/<family>).

Each golden folder is a save_pretrained model (float64) with expected.safetensors: input_ids,
attention_mask, token_type_ids, position_ids [4, 20] (row 1 right-padded) and the logits
transformers computed (see tests/golden/README.md). This runs torch_bert.py's model on those
inputs, in float64 and in float32, and prints the max |logit difference| per family, plus, for
the RoBERTa families, whether its position ids equal the ones transformers fed to the model.
Exit status 1 when a difference exceeds its tolerance (float64: --tol64 relative to the largest
|logit|; float32: --tol32 absolute, as run_peers.py's agreement check).

  /usr/bin/python3 bench/peers/check_goldens.py [--golden tests/golden] [--families ...]
"""
import argparse
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import safetensors_np  # noqa: E402
import torch_bert  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--golden", default=os.path.join(HERE, "..", "..", "tests", "golden"))
    ap.add_argument("--families", default="bert,distilbert,roberta,xlm-roberta")
    ap.add_argument("--tol64", type=float, default=1e-5)
    ap.add_argument("--tol32", type=float, default=1e-3)
    a = ap.parse_args()
    ok = True
    for fam in a.families.split(","):
        d = os.path.join(a.golden, fam)
        e, _ = safetensors_np.load(os.path.join(d, "expected.safetensors"))
        ids = torch.from_numpy(e["input_ids"].astype(np.int64))
        types = torch.from_numpy(e["token_type_ids"].astype(np.int64))
        mask = torch.from_numpy(e["attention_mask"].astype(np.int64))
        want = e["logits"]
        scale = float(np.abs(want).max())
        line = [f"{fam}:"]
        for name, dt, tdt in (("float64", np.float64, torch.float64),
                              ("float32", np.float32, torch.float32)):
            model, cfg = torch_bert.load_model(d, dt)
            with torch.inference_mode():
                got = model(ids, types, mask).to(torch.float64).numpy()
                pos = model.position_ids(ids).numpy()
            diff = float(np.abs(got - want).max())
            good = diff <= (a.tol64 * scale if dt == np.float64 else a.tol32)
            ok &= good
            line.append(f"{name} max |logit diff| {diff:.2e} {'OK' if good else 'FAILED'};")
        if cfg["family"] in ("roberta", "xlm-roberta"):
            same = bool((pos == e["position_ids"]).all())
            ok &= same
            line.append(f"position ids {'equal' if same else 'DIFFER'};")
        line.append(f"|logits| up to {scale:.3f} ({want.shape[0]} examples, row 1 padded)")
        print(" ".join(line), flush=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

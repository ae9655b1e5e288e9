#!/usr/bin/env python3
"""Times the reference PyTorch CT-ViT (GenerateCT, transformer_maskgit/ctvit.py) the way
`gct bench model --stage ctvit` times ours, and prints one JSON object on stdout.

encode = model(video, return_only_codebook_ids=True)   (patch embedding, encoder, VQ -> indices)
decode = model.decode_from_codebook_indices(indices)    (codebook rows -> decoder -> voxels)

Same input (torch.manual_seed(0); rand * 2 - 1 of shape 1 x 1 x frames x size x size), eval mode,
no autograd, one warm-up call, then the mean of --iterations calls, on --threads CPU threads.

The reference checkout is not modified. Its modules are loaded from source with two adjustments
that do not touch the arithmetic (the same ones the parity fixtures were made with, see
docs/porting-guide.md "Changes made to run the original code offline on CPU"):
  * the package __init__ is skipped (it imports trainers, datasets and the T5 stack);
  * the hard-coded `torch.device('cuda')` is replaced by the device being timed.
The reference's own dependencies (einops, vector_quantize_pytorch, beartype) are looked up on
sys.path; pass their source folders with --path (or PYTHONPATH).
"""

import argparse
import contextlib
import io
import json
import os
import resource
import sys
import time
import types


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reference", required=True, help="checkout of the GenerateCT repository")
    p.add_argument("--config", choices=["tiny", "paper"], default="tiny")
    p.add_argument("--kwargs", help="CTViT constructor kwargs as a JSON object (overrides --config)")
    p.add_argument("--tiny-config-json", help="ctvit_tiny_config.json (constructor kwargs of the tiny config)")
    p.add_argument("--frames", type=int, help="slices per volume (default 5 for tiny, 201 for paper)")
    p.add_argument("--threads", type=int, help="torch.set_num_threads")
    p.add_argument("--iterations", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--path", action="append", default=[], help="extra sys.path entry (repeatable)")
    return p.parse_args()


# The released constructor (train_ctvit.py / inference_ctvit.py); the VGG and the discriminator are
# loss networks only, so they are left out as in our bench.
PAPER = dict(dim=512, codebook_size=8192, image_size=128, patch_size=16, temporal_patch_size=2,
             spatial_depth=4, temporal_depth=4, dim_head=32, heads=8, use_vgg_and_gan=False)


def load_reference(root, device):
    package_dir = os.path.join(root, "transformer_maskgit", "transformer_maskgit")
    if not os.path.isfile(os.path.join(package_dir, "ctvit.py")):
        raise SystemExit(f"{root} is not a GenerateCT checkout: {package_dir}/ctvit.py is missing")
    package = types.ModuleType("transformer_maskgit")
    package.__path__ = [package_dir]
    sys.modules["transformer_maskgit"] = package
    for name in ("attention", "ctvit"):
        path = os.path.join(package_dir, name + ".py")
        with open(path, encoding="utf-8") as f:
            source = f.read()
        if device != "cuda":
            source = source.replace("torch.device('cuda')", f"torch.device('{device}')")
        module = types.ModuleType(f"transformer_maskgit.{name}")
        module.__file__ = path
        module.__package__ = "transformer_maskgit"
        sys.modules[module.__name__] = module
        setattr(package, name, module)
        exec(compile(source, path, "exec"), module.__dict__)
    return sys.modules["transformer_maskgit.ctvit"].CTViT


def loaded_blas():
    """The BLAS library torch resolved (Debian's torch uses whatever libblas.so.3 points to)."""
    try:
        with open("/proc/self/maps", encoding="utf-8") as f:
            paths = {line.split()[-1] for line in f if "blas" in line and "/" in line}
        return sorted(os.path.realpath(p) for p in paths)
    except OSError:
        return []


def main():
    args = parse_args()
    sys.path[:0] = args.path
    if args.threads:
        # An OpenMP or pthreads BLAS under torch reads these at load time.
        os.environ["OMP_NUM_THREADS"] = os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    ctvit_class = load_reference(os.path.abspath(args.reference), args.device)

    if args.kwargs:
        kwargs = json.loads(args.kwargs)
        default_frames = 201 if args.config == "paper" else 5
    elif args.config == "tiny":
        if not args.tiny_config_json:
            raise SystemExit("--tiny-config-json is needed for the tiny config")
        with open(args.tiny_config_json, encoding="utf-8") as f:
            kwargs = dict(json.load(f)["constructor_kwargs"])
        default_frames = 5
    else:
        kwargs = dict(PAPER)
        default_frames = 201
    frames = args.frames or default_frames
    device = torch.device(args.device)

    torch.manual_seed(0)
    model = ctvit_class(**kwargs).to(device).eval()
    parameters = sum(p.numel() for p in model.parameters())
    size = kwargs["image_size"]
    video = torch.rand(1, kwargs.get("channels", 1), frames, size, size, device=device) * 2 - 1

    def synchronize():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def timed(run):
        # forward() prints the input shape; keep stdout for the JSON.
        with contextlib.redirect_stdout(io.StringIO()):
            run()
            synchronize()
            start = time.perf_counter()
            for _ in range(args.iterations):
                run()
                synchronize()
            return (time.perf_counter() - start) * 1000 / args.iterations

    with torch.no_grad():
        encode_ms = timed(lambda: model(video, return_only_codebook_ids=True))
        with contextlib.redirect_stdout(io.StringIO()):
            indices = model(video, return_only_codebook_ids=True)
        decode_ms = timed(lambda: model.decode_from_codebook_indices(indices))

    print(json.dumps({
        "implementation": "reference PyTorch (GenerateCT ctvit.py)",
        "torch": torch.__version__,
        "config": args.config,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "frames": frames,
        "token_grid": "x".join(str(n) for n in indices.shape[1:]),
        "parameters": parameters,
        "iterations": args.iterations,
        "encode_ms_per_volume": round(encode_ms, 2),
        "decode_ms_per_volume": round(decode_ms, 2),
        "encode_decode_ms_per_volume": round(encode_ms + decode_ms, 2),
        "blas": loaded_blas(),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }))


if __name__ == "__main__":
    main()

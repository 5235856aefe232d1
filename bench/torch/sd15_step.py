"""PyTorch's textual-inversion training step on an SD1.5-size model on this CPU: the reference for bench/sd15-step.ts.

What it measures
  Plain torch modules, random weights from torch.manual_seed(0) (no diffusers/transformers, no downloads): diffusers'
  UNet2DConditionModel with runwayml/stable-diffusion-v1-5's unet/config.json (859,520,964 parameters, asserted)
  and CLIP ViT-L/14's text model as transformers' CLIPTextModel (123,060,480, asserted). Each mode runs in its own
  process (`all` runs the first three, and `check` at --size small), so each peak RSS is its own:
    encoder  the text encoder's forward under no_grad
    forward  the UNet's forward under no_grad: batch 1, latent 1x4x64x64, timestep 500, encoder states 1x77x768
    step     diffusers' examples/textual_inversion step, minimal: the placeholder's vector (the only leaf with
             grad) in its token's embedding row, text encoder, noise added at timestep 500 (SD1's scaled_linear
             schedule), UNet, MSE against the noise, loss.backward(); no optimizer update (negligible)
    check    small size, float64: the vector's gradient against a central difference along a random direction
    count    the full-size parameter counts, built on the meta device (no memory, no init time)
  One untimed warm-up run, then --runs timed runs: best, every run, CPU seconds per run, peak RSS.

Why
  The project's goal: pseudoword's step takes <= 0.3x PyTorch's textual-inversion step on the same model on the same
  machine. Attention is diffusers' AttnProcessor (non-SDPA): heads in the batch, q @ k^T * scale, softmax, @ v;
  torch 1.13 has no scaled_dot_product_attention.

How to run (from the repository root; Debian bookworm: apt-get install python3-torch)
    /usr/bin/python3 bench/torch/sd15_step.py [--size small] [--runs N] [--mode all|encoder|forward|step|check|count]
  The full size takes minutes and 10+ GiB. Debian's torch uses whatever libblas.so.3 the system provides; Debian's
  default (libblas3, netlib's reference BLAS) runs the matmuls ~20x slower than OpenBLAS, so the full size refuses
  to time on it (--reference-blas overrides): see README.md.
  An offline tool, not run by CI; Python is not part of the product or its tests.
Versions used: Python 3.11, torch 1.13 (Debian python3-torch, CPU only), OpenBLAS 0.3.21 (Debian libopenblas0-pthread).
"""

import argparse
import math
import os
import re
import resource
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

SIZES = {
    "sd15": dict(blocks=(320, 640, 1280, 1280), heads=8, cross=768, text_heads=12, text_layers=12, latent=64),
    "small": dict(blocks=(32, 64, 128, 128), heads=2, cross=64, text_heads=2, text_layers=2, latent=16),
}
UNET_PARAMS, CLIP_PARAMS = 859_520_964, 123_060_480
VOCAB, POSITIONS, TIMESTEP, PLACEHOLDER_AT = 49408, 77, 500, 5

# Factory kwargs for every parameterised layer, read at each call: {"device": "meta"} lets `count` build the
# full size without memory or init time.
KW = {}


lin = lambda i, o, bias=True: nn.Linear(i, o, bias=bias, **KW)
conv = lambda i, o, k=3, stride=1: nn.Conv2d(i, o, k, stride, k // 2, **KW)
gn = lambda c, eps=1e-5: nn.GroupNorm(32, c, eps=eps, **KW)
ln = lambda c: nn.LayerNorm(c, **KW)


def attend(q, k, v, heads, mask=None):
    """Multi-head attention as diffusers' AttnProcessor: heads in the batch, baddbmm scores, softmax, bmm."""
    b, n, c = q.shape
    d = c // heads
    split = lambda x: x.reshape(b, -1, heads, d).transpose(1, 2).reshape(b * heads, -1, d)
    q, k, v = split(q), split(k), split(v)
    base = torch.empty(b * heads, n, k.shape[1], dtype=q.dtype) if mask is None else mask
    p = torch.baddbmm(base, q, k.transpose(1, 2), beta=0 if mask is None else 1, alpha=d**-0.5).softmax(-1)
    return torch.bmm(p, v).reshape(b, heads, n, d).transpose(1, 2).reshape(b, n, c)


class Resnet(nn.Module):  # ResnetBlock2D
    def __init__(s, i, o, temb):
        super().__init__()
        s.norm1, s.conv1, s.time_emb_proj, s.norm2, s.conv2 = gn(i), conv(i, o), lin(temb, o), gn(o), conv(o, o)
        s.conv_shortcut = conv(i, o, 1) if i != o else None

    def forward(s, x, temb):
        h = s.conv1(F.silu(s.norm1(x))) + s.time_emb_proj(F.silu(temb))[:, :, None, None]
        h = s.conv2(F.silu(s.norm2(h)))
        return (x if s.conv_shortcut is None else s.conv_shortcut(x)) + h


class Attention(nn.Module):
    def __init__(s, dim, heads, ctx_dim=None):
        super().__init__()
        s.heads = heads
        s.to_q, s.to_out = lin(dim, dim, False), lin(dim, dim)
        s.to_k, s.to_v = lin(ctx_dim or dim, dim, False), lin(ctx_dim or dim, dim, False)

    def forward(s, x, ctx=None):
        ctx = x if ctx is None else ctx
        return s.to_out(attend(s.to_q(x), s.to_k(ctx), s.to_v(ctx), s.heads))


class Transformer(nn.Module):  # Transformer2DModel (1x1 conv projections) holding one BasicTransformerBlock
    def __init__(s, c, heads, cross):
        super().__init__()
        # diffusers gives Transformer2DModel's GroupNorm eps 1e-6, not the config's norm_eps.
        s.norm, s.proj_in, s.proj_out = gn(c, 1e-6), conv(c, c, 1), conv(c, c, 1)
        s.norm1, s.attn1, s.norm2, s.attn2 = ln(c), Attention(c, heads), ln(c), Attention(c, heads, cross)
        s.norm3, s.geglu, s.ff_out = ln(c), lin(c, 8 * c), lin(4 * c, c)

    def forward(s, x, ctx):
        b, c, h, w = x.shape
        y = s.proj_in(s.norm(x)).permute(0, 2, 3, 1).reshape(b, h * w, c)
        y = s.attn1(s.norm1(y)) + y
        y = s.attn2(s.norm2(y), ctx) + y
        a, gate = s.geglu(s.norm3(y)).chunk(2, -1)
        y = s.ff_out(a * F.gelu(gate)) + y
        return s.proj_out(y.reshape(b, h, w, c).permute(0, 3, 1, 2).contiguous()) + x


class Block(nn.Module):  # Down/Up/CrossAttn*Block2D: the down path pushes skips, the up path pops and concatenates
    def __init__(s, res, att, sampler=None):
        super().__init__()
        s.res, s.att, s.sampler = nn.ModuleList(res), nn.ModuleList(att), sampler

    def forward(s, x, temb, ctx, skips, up):
        for j, r in enumerate(s.res):
            x = r(torch.cat([x, skips.pop()], 1) if up else x, temb)
            x = s.att[j](x, ctx) if s.att else x
            skips += [] if up else [x]
        if s.sampler is not None:
            x = s.sampler(F.interpolate(x, scale_factor=2.0, mode="nearest") if up else x)
            skips += [] if up else [x]
        return x


class UNet(nn.Module):  # UNet2DConditionModel
    def __init__(s, blocks, heads, cross):
        super().__init__()
        c0, temb, last = blocks[0], 4 * blocks[0], len(blocks) - 1
        s.conv_in, s.lin1, s.lin2 = conv(4, c0), lin(c0, temb), lin(temb, temb)
        # Skip widths in the order the down path pushes them, so the up path's concatenations are sized by popping.
        skips, prev, s.down, s.up = [c0], c0, nn.ModuleList(), nn.ModuleList()
        for i, c in enumerate(blocks):
            res = [Resnet(prev if j == 0 else c, c, temb) for j in range(2)]
            att = [Transformer(c, heads, cross) for _ in range(2)] if i < last else []
            s.down.append(Block(res, att, conv(c, c, 3, 2) if i < last else None))
            skips += [c] * (3 if i < last else 2)
            prev = c
        s.mid = Block([Resnet(prev, prev, temb) for _ in range(2)], [Transformer(prev, heads, cross)])
        for i, c in enumerate(reversed(blocks)):
            res = [Resnet((prev if j == 0 else c) + skips.pop(), c, temb) for j in range(3)]
            att = [Transformer(c, heads, cross) for _ in range(3)] if i > 0 else []
            s.up.append(Block(res, att, conv(c, c) if i < last else None))
            prev = c
        s.norm_out, s.conv_out = gn(c0), conv(c0, 4)

    def forward(s, x, t, ctx):
        # Sinusoidal embedding, flip_sin_to_cos=True, downscale_freq_shift=0 (SD1's Timesteps).
        half = s.lin1.in_features // 2
        e = t[:, None].float() * torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
        temb = s.lin2(F.silu(s.lin1(torch.cat([e.cos(), e.sin()], -1).to(x.dtype))))
        x = s.conv_in(x)
        skips = [x]
        for b in s.down:
            x = b(x, temb, ctx, skips, False)
        x = s.mid.res[1](s.mid.att[0](s.mid.res[0](x, temb), ctx), temb)
        for b in s.up:
            x = b(x, temb, ctx, skips, True)
        return s.conv_out(F.silu(s.norm_out(x)))


class ClipLayer(nn.Module):  # CLIPEncoderLayer: pre-LN, biased projections, quick_gelu MLP
    def __init__(s, w, heads):
        super().__init__()
        s.heads, s.layer_norm1, s.layer_norm2 = heads, ln(w), ln(w)
        s.q_proj, s.k_proj, s.v_proj, s.out_proj = (lin(w, w) for _ in range(4))
        s.fc1, s.fc2 = lin(w, 4 * w), lin(4 * w, w)

    def forward(s, x, mask):
        h = s.layer_norm1(x)
        x = x + s.out_proj(attend(s.q_proj(h), s.k_proj(h), s.v_proj(h), s.heads, mask))
        h = s.fc1(s.layer_norm2(x))
        return x + s.fc2(h * torch.sigmoid(1.702 * h))


class ClipText(nn.Module):  # CLIPTextModel; its output (last_hidden_state) is SD1's encoder_hidden_states
    def __init__(s, w, layers, heads):
        super().__init__()
        s.token_embedding, s.position_embedding = nn.Embedding(VOCAB, w, **KW), nn.Embedding(POSITIONS, w, **KW)
        s.layers, s.final_layer_norm = nn.ModuleList(ClipLayer(w, heads) for _ in range(layers)), ln(w)

    def forward(s, ids, vec, at):
        # The learned vector replaces its token's embedding row, so autograd reaches no weight, only this leaf.
        x = torch.where(at[..., None], vec, s.token_embedding(ids)) + s.position_embedding.weight[: ids.shape[1]]
        n = ids.shape[1]
        mask = torch.full((n, n), float("-inf"), dtype=x.dtype).triu(1)
        for layer in s.layers:
            x = layer(x, mask)
        return s.final_layer_norm(x)


def build(cfg, which, dtype=torch.float32):
    torch.manual_seed(0)
    te = ClipText(cfg["cross"], cfg["text_layers"], cfg["text_heads"]) if "te" in which else None
    unet = UNet(cfg["blocks"], cfg["heads"], cfg["cross"]) if "unet" in which else None
    for m in (te, unet):
        if m is not None:
            m.requires_grad_(False).to(dtype)
    return te, unet


def inputs(cfg, te, dtype):
    g = torch.Generator().manual_seed(1)
    lat = cfg["latent"]
    latents, noise = (torch.randn(1, 4, lat, lat, generator=g, dtype=dtype) for _ in range(2))
    # Arbitrary valid ids: start-of-text, four words, the placeholder's slot, end-of-text padding.
    ids = torch.full((1, POSITIONS), 49407)
    ids[0, :PLACEHOLDER_AT] = torch.tensor([49406, 320, 1125, 539, 320])
    at = torch.arange(POSITIONS)[None] == PLACEHOLDER_AT
    # SD1's DDPM schedule (scaled_linear 0.00085..0.012, 1000 steps); add_noise at the fixed timestep.
    acp = torch.cumprod(1 - torch.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=torch.float64) ** 2, 0)[TIMESTEP]
    noisy = (acp.sqrt() * latents + (1 - acp).sqrt() * noise).to(dtype)
    vec = te.token_embedding.weight[320].detach().clone()[None] if te is not None else None  # initializer token
    ctx = torch.randn(1, POSITIONS, cfg["cross"], generator=g, dtype=dtype)  # stand-in states for `forward`
    return dict(ids=ids, at=at, noisy=noisy, noise=noise, t=torch.tensor([TIMESTEP]), vec=vec, ctx=ctx)


def loss_of(te, unet, inp, vec):
    pred = unet(inp["noisy"], inp["t"], te(inp["ids"], vec, inp["at"]))
    return F.mse_loss(pred, inp["noise"])  # diffusers' .float() casts are no-ops in float32 and would spoil `check`


def blas():
    """The BLAS library this process mapped: Debian's torch links whichever libblas.so.3 the system provides."""
    libs = {os.path.realpath(l.split()[-1]) for l in open("/proc/self/maps") if "blas" in l and "/" in l}
    names = sorted(os.path.basename(x) for x in libs)
    # Debian's default libblas3 (netlib's reference BLAS, file libblas.so.3.x) is ~20x slower than OpenBLAS on the
    # matmuls here; a PyTorch install from pip ships MKL or OpenBLAS, so timing the reference BLAS says little.
    fast = any(k in n for n in names for k in ("openblas", "mkl", "blis", "atlas"))
    return ", ".join(names) or "none", not fast


def peak_gib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def timed(name, fn, runs):
    fn()  # warm-up: first-touch allocations and oneDNN primitive creation stay out of the figures
    times, c0 = [], os.times()
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    c1 = os.times()
    cpu = (c1.user - c0.user + c1.system - c0.system) / runs  # less inflated by other load than wall time
    runs = ", ".join(f"{x:.3f}" for x in times)
    print(f"torch {name}: best {min(times):.3f} s (runs {runs}) cpu {cpu:.1f} s/run peak {peak_gib():.2f} GiB")


def check_counts(size, te, unet):
    for name, m, want in (("CLIPTextModel", te, CLIP_PARAMS), ("UNet2DConditionModel", unet, UNET_PARAMS)):
        n = sum(p.numel() for p in m.parameters()) if m is not None else None
        if n is not None:
            print(f"{name} parameters: {n:,}")
            assert size != "sd15" or n == want, f"{name}: {n:,} != {want:,}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", choices=SIZES, default="sd15")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--mode", choices=["all", "encoder", "forward", "step", "check", "count"], default="all")
    ap.add_argument("--reference-blas", action="store_true", help="time the full size on netlib's reference BLAS")
    a = ap.parse_args()
    cfg = SIZES[a.size]
    torch.set_num_threads(os.cpu_count())
    lib, reference = blas()
    if "SD15_TORCH_CHILD" not in os.environ:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, size {a.size}, blas {lib}", flush=True)
        if reference and a.mode in ("all", "encoder", "forward", "step"):
            fix = "install libopenblas0-pthread or put its libblas.so.3 on LD_LIBRARY_PATH (bench/torch/README.md)"
            if a.size == "sd15" and not a.reference_blas:
                sys.exit(f"refusing: reference BLAS makes PyTorch's figure meaningless; {fix}, or --reference-blas")
            print(f"warning: reference BLAS; {fix}", flush=True)

    if a.mode == "all":
        best = {}
        for mode in ["encoder", "forward", "step"] + (["check"] if a.size == "small" else []):
            args = [sys.executable, __file__, "--mode", mode, "--size", a.size, "--runs", str(a.runs)]
            r = subprocess.run(args, stdout=subprocess.PIPE, text=True, env={**os.environ, "SD15_TORCH_CHILD": "1"})
            print(r.stdout, end="", flush=True)
            if r.returncode:
                sys.exit(f"mode {mode} failed ({r.returncode})")
            m = re.search(r"best ([\d.]+) s", r.stdout)
            best[mode] = float(m.group(1)) if m else None
        print(f"torch TI step / unet forward: {best['step'] / best['forward']:.2f}x")
        return

    if a.mode == "count":
        KW["device"] = "meta"
        check_counts("sd15", *build(SIZES["sd15"], ("te", "unet")))
        return

    if a.mode == "check":
        # float64 so the finite difference's rounding stays far below any real discrepancy.
        te, unet = build(SIZES["small"], ("te", "unet"), torch.float64)
        inp = inputs(SIZES["small"], te, torch.float64)
        vec = inp["vec"].clone().requires_grad_()
        loss_of(te, unet, inp, vec).backward()
        d = torch.randn(vec.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
        eps = 1e-4
        with torch.no_grad():
            fd = (loss_of(te, unet, inp, vec + eps * d) - loss_of(te, unet, inp, vec - eps * d)).item() / (2 * eps)
        an = (vec.grad * d).sum().item()
        rel = abs(fd - an) / max(abs(fd), 1e-30)
        print(f"torch TI step gradient check (float64): analytic {an:.10e} central difference {fd:.10e} rel {rel:.2e}")
        assert rel < 1e-6, "placeholder gradient disagrees with the finite difference"
        return

    t0 = time.perf_counter()
    te, unet = build(cfg, {"encoder": ("te",), "forward": ("unet",), "step": ("te", "unet")}[a.mode])
    check_counts(a.size, te, unet)
    inp = inputs(cfg, te, torch.float32)
    print(f"built in {time.perf_counter() - t0:.1f} s, peak {peak_gib():.2f} GiB", flush=True)

    if a.mode == "encoder":
        with torch.no_grad():
            timed("text encoder forward", lambda: te(inp["ids"], inp["vec"], inp["at"]), a.runs)
    elif a.mode == "forward":
        with torch.no_grad():
            timed("unet forward", lambda: unet(inp["noisy"], inp["t"], inp["ctx"]), a.runs)
    else:
        vec = inp["vec"].clone().requires_grad_()

        def step():
            vec.grad = None  # no accumulation across runs; the optimizer update itself is negligible and left out
            loss_of(te, unet, inp, vec).backward()

        timed("TI step", step, a.runs)


if __name__ == "__main__":
    main()

# Copied from /work/shared/bench/torch_baseline.py (this project's own PyTorch baseline,
# kept in the shared folder for every helper); run by bench/run_bench.sh beside ds.
"""Reference measurements with PyTorch on a GPU: what a user would run instead of ds.

  python3 torch_baseline.py [all|kernels|model] [--config HF_CONFIG.json] [--batch B] [--seq S] [--out DIR]

1) HF transformers DeepseekV3ForCausalLM training step (BF16, fused AdamW) on a V3-style config
   (default: the v3-mini shape below), eager and torch.compile: tokens/s, peak memory, model FLOP
   utilisation against 989 TFLOP/s dense BF16.
2) Kernel ceilings: BF16 GEMM, FP8 scaled GEMM, grouped GEMM, SDPA attention with MLA head dims.
Prints one JSON line per measurement and appends them to DIR/anchors.jsonl.
Needs torch and transformers (present on the GPU machines); run it in the same job as the ds
benchmark so that both numbers come from one machine."""
import json, math, os, sys, time, traceback
import torch

import argparse
ap = argparse.ArgumentParser()
ap.add_argument("which", nargs="?", default="all", choices=["all", "kernels", "model"])
ap.add_argument("--config", default=None, help="HF-style DeepseekV3 config.json (default: v3-mini)")
ap.add_argument("--batch", type=int, default=4)
ap.add_argument("--seq", type=int, default=2048)
ap.add_argument("--modes", default="eager,compile")
ap.add_argument("--out", default=os.environ.get("OUT", "/tmp"))
args = ap.parse_args()
OUT = args.out
results = []
def emit(**kw):
    print(json.dumps(kw), flush=True); results.append(kw)
    with open(os.path.join(OUT, "anchors.jsonl"), "a") as f: f.write(json.dumps(kw) + "\n")

dev = torch.device("cuda")
emit(kind="env", torch=torch.__version__, gpu=torch.cuda.get_device_name(0), cuda=torch.version.cuda)

def bench(fn, iters=20, warm=3):
    for _ in range(warm): fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(iters):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record(); fn(); e.record(); torch.cuda.synchronize(); ts.append(s.elapsed_time(e))
    ts.sort(); return ts[len(ts) // 2] / 1e3

# ---- kernels
which = args.which
if which in ("all", "kernels"):
    try:
        for (M, N, K) in [(8192, 8192, 8192), (8192, 7168, 2048), (8192, 2048, 7168), (8192, 1536, 7168), (4096, 24576, 1536)]:
            a = torch.randn(M, K, device=dev, dtype=torch.bfloat16); b = torch.randn(N, K, device=dev, dtype=torch.bfloat16)
            t = bench(lambda: a @ b.t()); emit(kind="gemm_bf16", M=M, N=N, K=K, tflops=2 * M * N * K / t / 1e12)
            a8 = a.to(torch.float8_e4m3fn); b8 = b.to(torch.float8_e4m3fn)
            one = torch.ones((), device=dev)
            try:
                t = bench(lambda: torch._scaled_mm(a8, b8.t(), scale_a=one, scale_b=one, out_dtype=torch.bfloat16))
                emit(kind="gemm_fp8_tensorwise", M=M, N=N, K=K, tflops=2 * M * N * K / t / 1e12)
            except Exception as ex: emit(kind="gemm_fp8_tensorwise", error=str(ex)[:300])
            try:
                sa = torch.ones(M, 1, device=dev); sb = torch.ones(1, N, device=dev)
                t = bench(lambda: torch._scaled_mm(a8, b8.t(), scale_a=sa, scale_b=sb, out_dtype=torch.bfloat16))
                emit(kind="gemm_fp8_rowwise", M=M, N=N, K=K, tflops=2 * M * N * K / t / 1e12)
            except Exception as ex: emit(kind="gemm_fp8_rowwise", error=str(ex)[:300])
            try:  # DeepSeek-style blockwise: 1x128 activations, 128x128 weights
                sa = torch.ones(M, K // 128, device=dev); sb = torch.ones(N // 128, K // 128, device=dev)
                t = bench(lambda: torch._scaled_mm(a8, b8.t(), scale_a=sa, scale_b=sb.t(), out_dtype=torch.bfloat16))
                emit(kind="gemm_fp8_blockwise", M=M, N=N, K=K, tflops=2 * M * N * K / t / 1e12)
            except Exception as ex: emit(kind="gemm_fp8_blockwise", error=str(ex)[:300])
            del a, b, a8, b8
    except Exception: emit(kind="gemm", error=traceback.format_exc()[-500:])
    try:  # grouped GEMM for routed experts: G experts, m tokens each
        for (G, m, N, K) in [(64, 768, 1024, 1024), (32, 4096, 4096, 7168), (32, 4096, 7168, 2048)]:
            x = torch.randn(G * m, K, device=dev, dtype=torch.bfloat16); w = torch.randn(G, N, K, device=dev, dtype=torch.bfloat16)
            offs = torch.arange(1, G + 1, device=dev, dtype=torch.int32) * m
            try:
                t = bench(lambda: torch._grouped_mm(x, w.transpose(-2, -1), offs=offs))
                emit(kind="grouped_gemm_bf16", G=G, m=m, N=N, K=K, tflops=2 * G * m * N * K / t / 1e12)
            except Exception as ex: emit(kind="grouped_gemm_bf16", error=str(ex)[:300])
            def loop():
                for g in range(G): x[g * m:(g + 1) * m] @ w[g].t()
            t = bench(loop, iters=5); emit(kind="grouped_gemm_loop_bf16", G=G, m=m, N=N, K=K, tflops=2 * G * m * N * K / t / 1e12)
            del x, w
    except Exception: emit(kind="grouped", error=traceback.format_exc()[-500:])
    try:  # attention with MLA head dims (qk 192, v 128) causal, fwd and fwd+bwd
        import torch.nn.functional as F
        for (B, H, S, Dqk, Dv) in [(2, 16, 4096, 192, 128), (2, 16, 4096, 128, 128), (1, 128, 4096, 192, 128)]:
            q = torch.randn(B, H, S, Dqk, device=dev, dtype=torch.bfloat16, requires_grad=True)
            k = torch.randn(B, H, S, Dqk, device=dev, dtype=torch.bfloat16, requires_grad=True)
            v = torch.randn(B, H, S, Dv, device=dev, dtype=torch.bfloat16, requires_grad=True)
            fl = 2 * B * H * S * S * (Dqk + Dv) / 2  # causal
            try:
                t = bench(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True)); emit(kind="sdpa_fwd", B=B, H=H, S=S, Dqk=Dqk, Dv=Dv, tflops=fl / t / 1e12)
                def fb():
                    o = F.scaled_dot_product_attention(q, k, v, is_causal=True); o.backward(torch.ones_like(o))
                t = bench(fb); emit(kind="sdpa_fwdbwd", B=B, H=H, S=S, Dqk=Dqk, Dv=Dv, tflops=3.5 * fl / t / 1e12)
            except Exception as ex: emit(kind="sdpa", B=B, H=H, S=S, Dqk=Dqk, Dv=Dv, error=str(ex)[:300])
            del q, k, v
    except Exception: emit(kind="sdpa", error=traceback.format_exc()[-500:])
    torch.cuda.empty_cache()

# ---- model training step
def mini_config():
    from transformers import DeepseekV3Config
    if args.config:
        return DeepseekV3Config.from_json_file(args.config)
    return DeepseekV3Config(vocab_size=32768, hidden_size=1024, intermediate_size=2816, moe_intermediate_size=512,
        num_hidden_layers=12, first_k_dense_replace=1, num_attention_heads=8, num_key_value_heads=8,
        n_routed_experts=64, n_shared_experts=2, num_experts_per_tok=6, n_group=8, topk_group=4,
        routed_scaling_factor=2.5, norm_topk_prob=True, q_lora_rank=512, kv_lora_rank=256,
        qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128, max_position_embeddings=4096,
        rope_scaling=None, tie_word_embeddings=False)

def flops_per_token(c, seq):
    H, L, nh = c.hidden_size, c.num_hidden_layers, c.num_attention_heads
    qk, v = c.qk_nope_head_dim + c.qk_rope_head_dim, c.v_head_dim
    attn = H * c.q_lora_rank + c.q_lora_rank * nh * qk + H * (c.kv_lora_rank + c.qk_rope_head_dim) + c.kv_lora_rank * nh * (c.qk_nope_head_dim + v) + nh * v * H
    dense = 3 * H * c.intermediate_size
    moe = 3 * H * c.moe_intermediate_size * (c.num_experts_per_tok + c.n_shared_experts) + H * c.n_routed_experts
    kd = c.first_k_dense_replace
    mat = L * attn + kd * dense + (L - kd) * moe + H * c.vocab_size
    att = L * nh * seq * (qk + v)  # causal: 2*S*(qk+v)/2 per head per token
    return 6 * mat + 3 * 2 * att

if which in ("all", "model"):
    import transformers
    emit(kind="env", transformers=transformers.__version__)
    seq, bsz = args.seq, args.batch
    modes = {"eager": "grouped_mm", "compile": "grouped_mm+compile"}
    for mode in [modes[m] for m in args.modes.split(",")]:
        try:
            torch.manual_seed(0)
            c = mini_config()
            impl = None
            if "grouped_mm" in mode:
                impl = "grouped_mm"
            model = None
            if impl:
                try:
                    from transformers import AutoModelForCausalLM
                    model = AutoModelForCausalLM.from_config(c, experts_implementation=impl, attn_implementation="sdpa", dtype=torch.bfloat16)
                except Exception as ex:
                    emit(kind="note", mode=mode, msg="from_config experts_implementation failed: " + str(ex)[:200])
                    c._experts_implementation = impl
            if model is None:
                from transformers import DeepseekV3ForCausalLM
                c._attn_implementation = "sdpa"
                model = DeepseekV3ForCausalLM(c).to(torch.bfloat16)
            model = model.to(dev).train()
            nparams = sum(p.numel() for p in model.parameters())
            emit(kind="note", mode=mode, params=nparams, experts_impl=getattr(model.config, "_experts_implementation", None))
            opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
            fwd = torch.compile(model) if "compile" in mode else model
            ids = torch.randint(0, c.vocab_size, (bsz, seq), device=dev)
            def step():
                out = fwd(input_ids=ids, labels=ids)
                out.loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
                return out.loss
            t0 = time.time(); l0 = step().item(); torch.cuda.synchronize(); first = time.time() - t0
            for _ in range(2): step()
            torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
            n = 8; t0 = time.time()
            for _ in range(n): loss = step()
            torch.cuda.synchronize(); dt = (time.time() - t0) / n
            tok = bsz * seq / dt
            fpt = flops_per_token(c, seq)
            emit(kind="train_step", mode=mode, tokens_per_s=tok, step_s=dt, first_step_s=first, peak_gib=torch.cuda.max_memory_allocated() / 2**30,
                 model_tflops=tok * fpt / 1e12, mfu_vs_989=tok * fpt / 989e12, loss_first=l0, loss_last=loss.item())
            del model, opt, fwd; torch.cuda.empty_cache()
        except Exception:
            emit(kind="train_step", mode=mode, error=traceback.format_exc()[-800:])
            torch.cuda.empty_cache()

#!/usr/bin/env python3
"""End-to-end checks of ds-compile + ds-train on a shipped spec (CPU).

  train        trains v3-tiny for 200 steps from its spec on the default corpus: under 2
               minutes, last-20 mean loss below 60% of the first step's, every metrics line
               with the documented keys, and the router-bias update lowering each MoE
               layer's max/mean expert load.
  determinism  two runs with one seed give identical metrics except the timing keys.
  fusion       plans compiled with ds-fuse (the default) and with --no-fuse train to
               identical metrics (timing keys aside) at fp32 and fp8: fusion changes no bit.
  errors       a missing file, a truncated and a corrupted plan, a plan compiled for another
               batch, and token ids beyond the vocabulary each end with a non-zero exit and
               a message that names the problem.
  resume       30 steps uninterrupted vs 15 steps, checkpoint, resume to 30: identical
               metrics lines (timing keys aside), also after a SIGTERM (checkpoint, stop) and
               a SIGKILL (no warning) at whatever step they land; a dead writer's temporary
               folder is ignored; a changed --steps, another batch and a corrupted checkpoint
               are refused with clear errors.
"""
import argparse
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time

TIMING_KEYS = ("tokens_per_s", "step_s")


def run(cmd, expect_ok=True):
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if expect_ok and proc.returncode != 0:
        sys.exit(f"FAILED: {' '.join(cmd)}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
    return proc


def read_metrics(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def check_train(args):
    """Issue 4's acceptance run: `ds-train v3-tiny --steps 200 --metrics m.jsonl` on the
    default corpus (real text) finishes in under 2 minutes, the mean loss of the last 20
    steps is below 60% of the first step's, and with the router-bias update on the busiest
    expert's share of tokens (max/mean) falls in every MoE layer."""
    metrics = os.path.join(args.workdir, "metrics.jsonl")
    steps = 200
    start = time.monotonic()
    # gamma = 0.01 rather than V3's 0.001: v3-tiny trains for 200 steps, not 100K, and its
    # gate learns at lr 3e-3, so the bias must move faster to keep up (V3 report §2.1.2).
    run([args.ds_train, args.spec, "--steps", str(steps), "--metrics", metrics, "--seed", "1",
         "--bias-update-gamma", "0.01"])
    seconds = time.monotonic() - start
    lines = read_metrics(metrics)
    assert len(lines) == steps, f"{len(lines)} metrics lines, expected {steps}"
    for i, m in enumerate(lines):
        assert m["step"] == i + 1, m
        for key in ("loss", "loss_main", "lr", "grad_norm", "expert_load", *TIMING_KEYS):
            assert key in m, f"step {i + 1} lacks {key}: {m}"
        assert m["loss"] is not None and m["loss"] == m["loss"], f"loss not finite: {m}"
    assert seconds < 120, f"200 steps took {seconds:.1f} s (limit 120 s)"
    first = lines[0]["loss"]
    last = sum(m["loss"] for m in lines[-20:]) / 20
    assert last < 0.6 * first, f"last-20 mean loss {last:.4f} is not below 60% of {first:.4f}"
    load = lines[-1]["expert_load"]
    assert load, "no expert_load: v3-tiny has MoE layers"
    totals = {sum(counts) for counts in load.values()}
    assert len(totals) == 1 and totals.pop() > 0, f"layers routed different totals: {load}"
    balance = []
    for layer in sorted(load, key=int):
        ratios = [m["expert_load_max_over_mean"][layer] for m in lines]
        early, late = sum(ratios[:20]) / 20, sum(ratios[-20:]) / 20
        assert late < early, f"layer {layer}: max/mean load {early:.3f} -> {late:.3f} did not fall"
        balance.append(f"layer {layer} {early:.2f} -> {late:.2f}")
    print(f"ok: {steps} steps in {seconds:.1f} s; loss {first:.3f} -> last-20 mean {last:.3f} "
          f"({100 * last / first:.0f}%); expert max/mean (first 20 -> last 20 steps): "
          + ", ".join(balance))


def check_fp8(args):
    """Issue 7's recipe check: v3-tiny trained 300 steps with --precision fp8 (E4M3 on every
    linear GEMM with 1x128/128x128 scales and emulated FP32 promotion) ends within 1% of
    the BF16 run's loss (--precision bf16: every GEMM's operands rounded to BF16, FP32
    accumulation), by the mean of the last 20 steps. The BF16 run is also held within 2%
    of full FP32: a different rounding sends a 300-step tiny run down a different
    trajectory, which alone moves this mean by about 1%."""
    means = {}
    for precision in ("fp32", "bf16", "fp8"):
        path = os.path.join(args.workdir, f"{precision}.jsonl")
        run([args.ds_train, args.spec, "--steps", "300", "--seed", "2", "--precision",
             precision, "--bias-update-gamma", "0.01", "--metrics", path])
        lines = read_metrics(path)
        means[precision] = sum(m["loss"] for m in lines[-20:]) / 20
    for low, reference, bound in (("fp8", "bf16", 0.01), ("bf16", "fp32", 0.02)):
        gap = means[low] / means[reference] - 1
        assert abs(gap) < bound, (f"{low} last-20 loss {means[low]:.4f} vs {reference} "
                                 f"{means[reference]:.4f}")
    assert means["bf16"] != means["fp32"], "bf16 run is identical to fp32: math not applied"
    print("ok: last-20 mean loss " +
          ", ".join(f"{p} {means[p]:.4f}" for p in ("fp32", "bf16", "fp8")) +
          f"; fp8 vs bf16 {100 * (means['fp8'] / means['bf16'] - 1):+.2f}%, "
          f"bf16 vs fp32 {100 * (means['bf16'] / means['fp32'] - 1):+.2f}%")


def last20_means(args, flag, values, flags):
    """v3-tiny trained 150 steps (seed 2, --precision bf16) once per value of `flag`, with
    `flags` besides: the mean loss of each run's last 20 steps, by value."""
    means = {}
    for value in values:
        path = os.path.join(args.workdir, f"{value}.jsonl")
        run([args.ds_train, args.spec, "--steps", "150", "--seed", "2", "--precision", "bf16",
             flag, value, "--bias-update-gamma", "0.01", "--metrics", path] + flags)
        lines = read_metrics(path)
        means[value] = sum(m["loss"] for m in lines[-20:]) / 20
    return means


def check_activations(args):
    """--activations bf16 (activations and their gradients stored in BF16; FP32 master
    weights, moments and loss): v3-tiny trained 150 steps ends within 2% of the run that
    differs only in keeping activations in FP32 (both --precision bf16, so the products
    round alike), by the mean of the last 20 steps; and the two runs are not identical, so
    the flag took effect."""
    means = last20_means(args, "--activations", ("f32", "bf16"), [])
    gap = means["bf16"] / means["f32"] - 1
    assert abs(gap) < 0.02, f"bf16 activations {means['bf16']:.4f} vs f32 {means['f32']:.4f}"
    assert means["bf16"] != means["f32"], "bf16 activations gave the f32 run: flag not applied"
    print(f"ok: last-20 mean loss, f32 activations {means['f32']:.4f}, bf16 activations "
          f"{means['bf16']:.4f} ({100 * gap:+.2f}%)")


def check_params(args):
    """--params bf16 (parameters, gradients and moments in BF16 with no FP32 master copy:
    PyTorch's model.to(torch.bfloat16) recipe, which bench/ compares against): v3-tiny
    trained 150 steps ends within 3% of the run with FP32 master weights and otherwise the
    same flags (BF16 products, activations and moments), by the mean of the last 20 steps;
    and the two runs differ, so the flag took effect."""
    means = last20_means(args, "--params", ("f32", "bf16"),
                         ["--activations", "bf16", "--adam-moments", "bf16"])
    gap = means["bf16"] / means["f32"] - 1
    assert abs(gap) < 0.03, f"bf16 parameters {means['bf16']:.4f} vs f32 {means['f32']:.4f}"
    assert means["bf16"] != means["f32"], "bf16 parameters gave the f32 run: flag not applied"
    print(f"ok: last-20 mean loss, f32 master weights {means['f32']:.4f}, bf16 parameters "
          f"{means['bf16']:.4f} ({100 * gap:+.2f}%)")


def check_determinism(args):
    outs = []
    for name in ("a", "b"):
        path = os.path.join(args.workdir, f"{name}.jsonl")
        run([args.ds_train, args.spec, "--steps", "20", "--seed", "3", "--metrics", path])
        outs.append([{k: v for k, v in m.items() if k not in TIMING_KEYS}
                     for m in read_metrics(path)])
    assert outs[0] == outs[1], f"runs differ:\n{outs[0]}\n{outs[1]}"
    print("ok: identical metrics for one seed")


def check_fusion(args):
    """Issue 7's equivalence check: v3-tiny compiled with ds-fuse (fewer launches) and with
    --no-fuse trains 20 steps on the CPU to identical metrics lines, timing keys aside:
    every loss, grad norm and expert load bit for bit, at fp32 and with the fp8 recipe."""
    for precision in ("fp32", "fp8"):
        outs = {}
        for name, flags in (("fused", ["--report"]), ("unfused", ["--no-fuse"])):
            plan = os.path.join(args.workdir, f"{precision}-{name}.dsplan")
            compiled = run([args.ds_compile, args.spec, "--batch", "4", "--seq", "64",
                            "--precision", precision, "-o", plan] + flags)
            if name == "fused":
                summary = [l for l in compiled.stdout.splitlines() if l.startswith("ds-fuse")]
                assert summary, f"no ds-fuse summary in:\n{compiled.stdout}"
                counts = summary[0].split("launches per step ")[1].split(" (")[0].split(" -> ")
                assert int(counts[1]) < int(counts[0]), summary[0]
            path = os.path.join(args.workdir, f"{precision}-{name}.jsonl")
            run([args.ds_train, plan, "--steps", "20", "--seed", "3", "--metrics", path])
            outs[name] = [{k: v for k, v in m.items() if k not in TIMING_KEYS}
                          for m in read_metrics(path)]
        assert len(outs["fused"]) == 20, f"{len(outs['fused'])} metrics lines, expected 20"
        for step, (fused, unfused) in enumerate(zip(outs["fused"], outs["unfused"]), 1):
            assert fused == unfused, (f"{precision} step {step}: fused and unfused plans "
                                      f"differ:\n{fused}\n{unfused}")
        print(f"ok: {precision}: fused ({summary[0].split(': ')[1].split(';')[0]}) and "
              f"unfused plans give identical metrics for 20 steps")


def expect_error(cmd, fragment):
    proc = run(cmd, expect_ok=False)
    assert proc.returncode != 0, f"expected failure: {' '.join(cmd)}"
    assert fragment in proc.stderr, f"expected '{fragment}' in stderr of {cmd}:\n{proc.stderr}"
    assert "Segmentation" not in proc.stderr and proc.returncode > 0


def check_errors(args):
    plan = os.path.join(args.workdir, "b2.dsplan")
    run([args.ds_compile, args.spec, "--batch", "2", "--seq", "16", "-o", plan])
    with open(plan, "rb") as f:
        data = f.read()

    expect_error([args.ds_train, os.path.join(args.workdir, "absent.dsplan")],
                 "No such file or directory")

    truncated = os.path.join(args.workdir, "truncated.dsplan")
    with open(truncated, "wb") as f:
        f.write(data[: len(data) // 2])
    expect_error([args.ds_train, truncated, "--steps", "1"], "truncated")

    corrupted = os.path.join(args.workdir, "corrupted.dsplan")
    flipped = bytearray(data)
    flipped[len(flipped) // 2] ^= 0xFF
    with open(corrupted, "wb") as f:
        f.write(bytes(flipped))
    expect_error([args.ds_train, corrupted, "--steps", "1"], "checksum")

    expect_error([args.ds_train, plan, "--batch", "8", "--steps", "1"],
                 "plan was compiled for batch 2 but --batch is 8")

    tokens = os.path.join(args.workdir, "big.u32")
    with open(tokens, "wb") as f:
        f.write(struct.pack("<4I", 1, 2, 2_000_000_000, 3) * 64)
    expect_error([args.ds_train, plan, "--data", tokens, "--steps", "1"],
                 "token 2 has id 2000000000")
    print("ok: every bad input ends with a clear error")


def without_timing(path):
    return [{k: v for k, v in m.items() if k not in TIMING_KEYS} for m in read_metrics(path)]


def checkpoint_folders(root):
    return sorted(name for name in os.listdir(root) if name.startswith("step-"))


def interrupt(args, base, sig, expected, extra):
    """Starts a 30-step run, sends `sig` once it has logged a few steps, resumes it from its
    checkpoint folder, and compares its metrics with the uninterrupted run's."""
    root = os.path.join(args.workdir, f"ck-{sig.name}")
    metrics = os.path.join(args.workdir, f"{sig.name}.jsonl")
    cmd = [*base, "--metrics", metrics, "--checkpoint-dir", root, *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while proc.poll() is None and time.time() < deadline:
        if os.path.exists(metrics) and len(open(metrics).readlines()) >= 4:
            proc.send_signal(sig)
            break
        time.sleep(0.02)
    out, err = proc.communicate(timeout=300)
    finished = proc.returncode == 0
    if sig == signal.SIGTERM:
        assert finished or proc.returncode == 128 + sig, f"{proc.returncode}:\n{out}\n{err}"
        assert finished or "continue with --resume" in out, out
    else:
        assert finished or proc.returncode == -sig, f"{proc.returncode}:\n{out}\n{err}"
    if not finished:
        run([*base, "--metrics", metrics, "--resume", root])
    got = without_timing(metrics)
    assert got == expected, f"after {sig.name}, the resumed run differs:\n{got}\n{expected}"
    return "finished before the signal" if finished else "resumed"


def check_resume(args):
    plan = os.path.join(args.workdir, "v3-tiny.dsplan")
    run([args.ds_compile, args.spec, "--batch", "4", "--seq", "64", "-o", plan])
    base = [args.ds_train, plan, "--steps", "30", "--seed", "5", "--lr", "5e-3"]
    whole = os.path.join(args.workdir, "whole.jsonl")
    run([*base, "--metrics", whole])
    expected = without_timing(whole)
    assert [m["step"] for m in expected] == list(range(1, 31))

    root = os.path.join(args.workdir, "ck")
    parts = os.path.join(args.workdir, "parts.jsonl")
    run([*base, "--metrics", parts, "--checkpoint-dir", root, "--checkpoint-every", "5",
         "--stop-after", "15"])
    assert checkpoint_folders(root) == ["step-000010", "step-000015"], os.listdir(root)
    with open(os.path.join(root, "latest")) as f:
        assert f.read() == "step-000015\n"
    # What a kill during the next checkpoint and the next metrics line leaves behind.
    stale = os.path.join(root, ".tmp-step-000020-99999")
    os.makedirs(stale)
    with open(os.path.join(root, "step-000015", "model.safetensors"), "rb") as f:
        model = f.read()
    with open(os.path.join(stale, "model.safetensors"), "wb") as f:
        f.write(model[: len(model) // 3])
    with open(parts, "a") as f:
        f.write('{"step":16,"loss":')
    proc = run([*base, "--metrics", parts, "--resume", root, "--checkpoint-every", "5"])
    assert "resuming from" in proc.stdout and "after step 15 of 30" in proc.stdout, proc.stdout
    got = without_timing(parts)
    assert got == expected, f"resumed run differs from the uninterrupted one:\n{got}\n{expected}"
    assert checkpoint_folders(root) == ["step-000025", "step-000030"], os.listdir(root)
    assert not os.path.exists(stale), "the dead writer's folder was not removed"

    expect_error([*base[:3], "40", *base[4:], "--resume", os.path.join(root, "step-000025"),
                  "--checkpoint-dir", os.path.join(args.workdir, "other")],
                 "was written by a run with --steps 30; this run has --steps 40")
    plan2 = os.path.join(args.workdir, "b2.dsplan")
    run([args.ds_compile, args.spec, "--batch", "2", "--seq", "64", "-o", plan2])
    expect_error([args.ds_train, plan2, *base[2:], "--resume", root],
                 "with batch 4 and seq 64; this run uses batch 2 and seq 64")
    damaged = os.path.join(args.workdir, "damaged")
    shutil.copytree(os.path.join(root, "step-000030"), damaged)
    with open(os.path.join(damaged, "model.safetensors"), "rb") as f:
        flipped = bytearray(f.read())
    flipped[-5] ^= 0x10
    with open(os.path.join(damaged, "model.safetensors"), "wb") as f:
        f.write(bytes(flipped))
    expect_error([*base, "--resume", damaged, "--checkpoint-dir", damaged + "-out"],
                 "does not match its checksum")

    term = interrupt(args, base, signal.SIGTERM, expected, [])
    kill = interrupt(args, base, signal.SIGKILL, expected, ["--checkpoint-every", "1"])
    print(f"ok: stopped at 15 and resumed to 30 with identical metrics; SIGTERM: {term}; "
          f"SIGKILL: {kill}; mismatches and damage refused")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("check",
                        choices=["train", "fp8", "activations", "params", "determinism", "fusion",
                                 "errors", "resume"])
    parser.add_argument("--ds-train", required=True)
    parser.add_argument("--ds-compile", required=True)
    parser.add_argument("--spec", required=True)
    parser.add_argument("--workdir", required=True)
    args = parser.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)
    {"train": check_train, "fp8": check_fp8, "activations": check_activations,
     "params": check_params,
     "determinism": check_determinism,
     "fusion": check_fusion, "errors": check_errors,
     "resume": check_resume}[args.check](args)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Parity of ds with HF transformers on test/fixtures/hf-tiny (issue 5), standard library only.

Runs `ds-train --eval --init FIXTURES --input FIXTURES/inputs.safetensors --output OUT --grads`
and compares OUT with FIXTURES/expected.safetensors (what DeepseekV3ForCausalLM computed):
  logits     max |ds - hf| / max |hf|                      < 1e-4
  loss       |ds - hf| / |hf|                              < 1e-4
  grad.<P>   max |ds - hf| / max |hf| per tensor, every P  < 1e-3 (an all-zero HF gradient,
             an expert no token chose, must be zero to 1e-6 absolute)
  expert_counts.<L>  equal (both count all batch x seq positions)
and that OUT has exactly the fixture's gradient names (routed experts split per expert).
Prints the worst numbers either way; exits non-zero on any failure.
"""
import argparse
import array
import json
import os
import struct
import subprocess
import sys

LOGITS_TOL, LOSS_TOL, GRAD_TOL, ZERO_GRAD_ABS = 1e-4, 1e-4, 1e-3, 1e-6
CODES = {"F32": "f", "I32": "i"}


def read_safetensors(path):
    """name -> (shape, flat list of values) for the F32 and I32 tensors of a file."""
    with open(path, "rb") as f:
        blob = f.read()
    (header_len,) = struct.unpack_from("<Q", blob, 0)
    header = json.loads(blob[8:8 + header_len])
    data = memoryview(blob)[8 + header_len:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        code = CODES.get(info["dtype"])
        if code is None:
            sys.exit(f"{path}: tensor {name} has dtype {info['dtype']}; expected F32 or I32")
        begin, end = info["data_offsets"]
        values = array.array(code)
        values.frombytes(bytes(data[begin:end]))
        if sys.byteorder != "little":
            values.byteswap()
        tensors[name] = (info["shape"], values)
    return tensors


def max_abs(values):
    return max((abs(v) for v in values), default=0.0)


def max_diff(a, b):
    return max((abs(x - y) for x, y in zip(a, b)), default=0.0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ds-train", required=True)
    parser.add_argument("--fixtures", required=True)
    parser.add_argument("--workdir", required=True)
    args = parser.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    out = os.path.join(args.workdir, "ds.safetensors")
    cmd = [args.ds_train, "--eval", "--init", args.fixtures, "--input",
           os.path.join(args.fixtures, "inputs.safetensors"), "--output", out, "--grads"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        sys.exit(f"FAILED: {' '.join(cmd)} exited with {proc.returncode}")
    if "not used" in proc.stderr:
        sys.exit("FAILED: ds-train left fixture tensors unused")

    ours = read_safetensors(out)
    hf = read_safetensors(os.path.join(args.fixtures, "expected.safetensors"))
    failures = []

    def check(name, ok, text):
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {text}")
        if not ok:
            failures.append(name)

    for name in ("logits", "loss"):
        if name not in ours:
            sys.exit(f"FAILED: {out} has no '{name}'")
        if ours[name][0] != hf[name][0]:
            sys.exit(f"FAILED: '{name}' has shape {ours[name][0]}, expected {hf[name][0]}")
    logits_err = max_diff(ours["logits"][1], hf["logits"][1]) / max_abs(hf["logits"][1])
    check("logits", logits_err < LOGITS_TOL,
          f"max |diff| / max |logit| = {logits_err:.3e} (tolerance {LOGITS_TOL:g})")
    loss_ds, loss_hf = ours["loss"][1][0], hf["loss"][1][0]
    loss_err = abs(loss_ds - loss_hf) / abs(loss_hf)
    check("loss", loss_err < LOSS_TOL,
          f"ds {loss_ds:.8f} hf {loss_hf:.8f} relative {loss_err:.3e} (tolerance {LOSS_TOL:g})")

    for name in sorted(n for n in hf if n.startswith("expert_counts.")):
        got = list(ours[name][1]) if name in ours else None
        check(name, got == list(hf[name][1]), f"ds {got} hf {list(hf[name][1])}")

    grads_hf = {n for n in hf if n.startswith("grad.")}
    grads_ds = {n for n in ours if n.startswith("grad.")}
    if grads_hf != grads_ds:
        missing, extra = sorted(grads_hf - grads_ds), sorted(grads_ds - grads_hf)
        check("gradient names", False, f"missing {missing[:5]} ({len(missing)}), "
              f"unexpected {extra[:5]} ({len(extra)})")
    worst_name, worst_err, zero_tensors = None, 0.0, 0
    for name in sorted(grads_hf & grads_ds):
        (shape_ds, g_ds), (shape_hf, g_hf) = ours[name], hf[name]
        if shape_ds != shape_hf:
            check(name, False, f"shape {shape_ds}, expected {shape_hf}")
            continue
        scale = max_abs(g_hf)
        if scale == 0.0:
            zero_tensors += 1
            err = max_abs(g_ds)
            if err > ZERO_GRAD_ABS:
                check(name, False, f"HF gradient is zero, ds max |grad| {err:.3e}")
            continue
        err = max_diff(g_ds, g_hf) / scale
        if err >= GRAD_TOL:
            check(name, False, f"max |diff| / max |grad| = {err:.3e} (tolerance {GRAD_TOL:g})")
        if err > worst_err:
            worst_name, worst_err = name, err
    check("gradients", not any(n.startswith("grad.") for n in failures),
          f"{len(grads_hf & grads_ds)} compared ({zero_tensors} all-zero in HF), worst "
          f"{worst_err:.3e} at {worst_name} (tolerance {GRAD_TOL:g})")
    if failures:
        sys.exit(f"FAILED: {len(failures)} checks")
    print("parity OK")


if __name__ == "__main__":
    main()

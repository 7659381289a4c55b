#!/usr/bin/env python3
"""Times ONE DeepDream gradient step (forward to mixed5 + input-gradient backward) in PyTorch.

A reference point for the project's own engine (`npm run bench -- --only step:N`). It runs the same compiled
InceptionV3 trunk the engine uses (models/.cache/inception_v3-*/graph.json + weights.bin, BatchNorm folded),
rebuilt as torch ops in NCHW with TensorFlow padding semantics:

  * conv 'same': explicit asymmetric zero pad (the extra pixel at the bottom/right), then a 'valid' conv;
  * maxPool 'same': pad with -inf;
  * avgPool 'same': the padding is excluded from the average (sum over the window / number of real inputs).

Loss = sum over layers of mean(activation) (default mixed3 + mixed5), as in src/engine/network.ts; a step is
forward + loss.backward() for the input gradient only (weights have requires_grad=False).

Needs the Debian packages python3-torch and python3-numpy (run with /usr/bin/python3 if another python3 is first
on PATH). Usage:

  python3 scripts/pytorch-step.py --size 224,384,512 --steps 5 --threads 2
  python3 scripts/pytorch-step.py --check image.npy [--grad-out grad.f32]

One JSON line per size: {"case":"pytorch-step","size":..,"threads":..,"ms_median":..,"torch":..}.
--check takes an (H, W, 3) array, uint8 in [0, 255] or float in [0, 1], and prints its loss (and, with
--grad-out, writes d(loss)/d(image in [0, 1]) as raw little-endian float32 in H×W×3 order).
"""

import argparse
import glob
import json
import os
import statistics
import sys
import time

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError:
    # Debian's python3-torch lives in the system interpreter; another python3 (pyenv, venv) may be first on PATH.
    if os.path.realpath(sys.executable) != os.path.realpath('/usr/bin/python3') and os.path.exists('/usr/bin/python3'):
        os.execv('/usr/bin/python3', ['/usr/bin/python3', *sys.argv])
    raise

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))


def find_cache(model):
    dirs = sorted(glob.glob(os.path.join(ROOT, 'models', '.cache', f'{model}-*')), key=os.path.getmtime)
    dirs = [d for d in dirs if os.path.isfile(os.path.join(d, 'graph.json')) and os.path.isfile(os.path.join(d, 'weights.bin'))]
    if not dirs:
        sys.exit(f'No compiled {model} under models/.cache: run the project once (e.g. npm run bench) to build it.')
    return dirs[-1]


def tf_pad(size, k, s, padding):
    """TensorFlow's padding along one axis: (before, after)."""
    if padding == 'valid':
        return 0, 0
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


class Trunk:
    def __init__(self, cache_dir, input_range):
        with open(os.path.join(cache_dir, 'graph.json')) as f:
            graph = json.load(f)
        weights = torch.from_numpy(np.fromfile(os.path.join(cache_dir, 'weights.bin'), dtype='<f4'))
        self.nodes = graph['nodes']
        self.outputs = graph['outputs']
        self.by_name = {n['name']: n for n in self.nodes}
        self.range = input_range

        def view(ref):
            count = int(np.prod(ref['shape']))
            return weights[ref['offset']:ref['offset'] + count].reshape(ref['shape'])

        self.params = {}
        for n in self.nodes:
            if n['op'] == 'conv':
                # HWIO -> OIHW
                kernel = view(n['kernel']).permute(3, 2, 0, 1).contiguous()
                self.params[n['name']] = (kernel, view(n['bias']).clone())
            elif n['op'] == 'affine':
                self.params[n['name']] = (view(n['scale']).reshape(1, -1, 1, 1).clone(), view(n['shift']).reshape(1, -1, 1, 1).clone())
        self._ones = {}

    def plan(self, layers):
        needed, stack = set(), [self.outputs[l] for l in layers]
        while stack:
            name = stack.pop()
            if name in needed:
                continue
            needed.add(name)
            node = self.by_name[name]
            if 'input' in node:
                stack.append(node['input'])
            stack.extend(node.get('inputs', []))
        return [n for n in self.nodes if n['name'] in needed]

    @staticmethod
    def _pad4(x, k, s, padding):
        ph = tf_pad(x.shape[2], k[0], s[0], padding)
        pw = tf_pad(x.shape[3], k[1], s[1], padding)
        return (pw[0], pw[1], ph[0], ph[1])

    def _avg_pool(self, x, k, s, padding):
        pads = self._pad4(x, k, s, padding)
        if not any(pads):
            return F.avg_pool2d(x, k, s)
        key = (x.shape[2], x.shape[3], tuple(k), tuple(s), pads)
        inv_count = self._ones.get(key)
        if inv_count is None:
            ones = torch.ones(1, 1, x.shape[2], x.shape[3], dtype=x.dtype)
            # fraction of each window that is real input -> 1 / that fraction
            inv_count = 1.0 / F.avg_pool2d(F.pad(ones, pads), k, s)
            self._ones[key] = inv_count
        return F.avg_pool2d(F.pad(x, pads), k, s) * inv_count

    def forward(self, x, plan):
        lo, hi = self.range
        if (lo, hi) != (0, 1):
            x = x * (hi - lo) + lo
        values = {}
        for n in plan:
            op = n['op']
            if op == 'input':
                y = x
            elif op == 'conv':
                kernel, bias = self.params[n['name']]
                inp = values[n['input']]
                kh, kw = n['kernel']['shape'][:2]
                pads = self._pad4(inp, (kh, kw), n['strides'], n['padding'])
                if any(pads):
                    if pads[0] == pads[1] and pads[2] == pads[3]:
                        y = F.conv2d(inp, kernel, bias, tuple(n['strides']), (pads[2], pads[0]))
                    else:
                        y = F.conv2d(F.pad(inp, pads), kernel, bias, tuple(n['strides']))
                else:
                    y = F.conv2d(inp, kernel, bias, tuple(n['strides']))
                if n['relu']:
                    y = F.relu(y)
            elif op == 'maxPool':
                inp = values[n['input']]
                pads = self._pad4(inp, n['size'], n['strides'], n['padding'])
                if any(pads):
                    inp = F.pad(inp, pads, value=float('-inf'))
                y = F.max_pool2d(inp, tuple(n['size']), tuple(n['strides']))
            elif op == 'avgPool':
                y = self._avg_pool(values[n['input']], tuple(n['size']), tuple(n['strides']), n['padding'])
            elif op == 'concat':
                y = torch.cat([values[i] for i in n['inputs']], dim=1)
            elif op == 'add':
                y = values[n['inputs'][0]]
                for i in n['inputs'][1:]:
                    y = y + values[i]
            elif op == 'relu':
                y = F.relu(values[n['input']])
            elif op == 'affine':
                scale, shift = self.params[n['name']]
                y = values[n['input']] * scale + shift
            else:
                raise ValueError(f'unknown op {op}')
            values[n['name']] = y
        return values

    def loss(self, x, layers, plan):
        values = self.forward(x, plan)
        return sum(values[self.outputs[l]].mean() for l in layers)


def step(trunk, image, layers, plan):
    """One gradient step: forward + backward, d(loss)/d(image)."""
    x = image.detach().requires_grad_(True)
    loss = trunk.loss(x, layers, plan)
    loss.backward()
    return loss.detach(), x.grad


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--size', default='224,384,512', help='comma-separated square sizes to time')
    p.add_argument('--steps', type=int, default=5, help='timed steps per size, after one warm-up step')
    p.add_argument('--threads', type=int, default=2, help='torch intra-op threads')
    p.add_argument('--layers', default='mixed3,mixed5')
    p.add_argument('--model', default='inception_v3')
    p.add_argument('--check', metavar='IMAGE.npy', help='print the loss of this (H, W, 3) image instead of timing')
    p.add_argument('--grad-out', metavar='FILE', help='with --check: write the input gradient (H×W×3 float32)')
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(True)
    with open(os.path.join(ROOT, 'models', args.model, 'manifest.json')) as f:
        manifest = json.load(f)
    trunk = Trunk(find_cache(args.model), tuple(manifest['input']['range']))
    layers = args.layers.split(',')
    plan = trunk.plan(layers)

    if args.check:
        arr = np.load(args.check)
        img = arr.astype(np.float32) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float32)
        x = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)[None]))
        loss, grad = step(trunk, x, layers, plan)
        out = {'case': 'pytorch-check', 'image': args.check, 'height': img.shape[0], 'width': img.shape[1],
               'layers': layers, 'loss': float(loss), 'torch': torch.__version__}
        if args.grad_out:
            grad.detach()[0].permute(1, 2, 0).contiguous().numpy().astype('<f4').tofile(args.grad_out)
            out['grad_out'] = args.grad_out
        print(json.dumps(out), flush=True)
        return

    gen = torch.Generator().manual_seed(1)
    for size in [int(s) for s in args.size.split(',')]:
        image = torch.rand(1, 3, size, size, generator=gen)
        times = []
        for i in range(args.steps + 1):
            t = time.perf_counter()
            step(trunk, image, layers, plan)
            if i > 0:
                times.append((time.perf_counter() - t) * 1000)
        print(json.dumps({'case': 'pytorch-step', 'size': size, 'threads': torch.get_num_threads(),
                          'ms_median': round(statistics.median(times)), 'torch': torch.__version__}), flush=True)


if __name__ == '__main__':
    main()

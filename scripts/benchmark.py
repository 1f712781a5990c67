#!/usr/bin/env python
"""p2pcount benchmark: every figure a median of repetitions, every comparison a ratio from
the same run (this machine is shared and noisy, so absolute numbers drift; ratios less).

Sections:
  model     throughput (images/s, achieved GFLOP/s from counted conv FLOPs) of p2pcount's
            inference network against a plain reference forward of the same architecture
            (NCHW fp32, torch.no_grad, batch norm unfolded: what a user following the spec
            would write), at 1024x768 and 1920x1080, batch 1 and 4, fp32 and bf16;
  startup   `p2pcount --help`, `p2pcount count` of one 640x480 image (ncnn cached, torch),
            `python -c "import torch"`;
  folder    end-to-end `p2pcount count` of 50 generated 1024x768 JPEGs against pure forward;
  folder_backends  `p2pcount count` of 16 1024x768 JPEGs with ncnn and torch against the
            original release's pipeline, end to end;
  memory    peak RSS of `p2pcount count` on 1920x1080, 3840x2160 and 8000x6000 images;
  tiling    a 2048x1536 crowd counted whole and in tiles (counts, points within 1 px);
  accuracy  bf16 against fp32 counts on the bundled model's synthetic test images;
  backend   ncnn (fp32, bf16/fp16 storage) against torch (fp32, bf16 on bf16 CPUs) at
            1024x768 and 1920x1080, 2 threads (ncnn's model built into a fresh cache);
  backend_memory  peak RSS and time of `p2pcount count` with each backend: 1920x1080 and
            2048x2048 whole, 8000x6000 tiled (ncnn with 512- to 1024-px tiles);
  train_step  one training step (8 images, 4 crops of 128 px each, Hungarian matching, Adam)
            with the backbone's first K VGG blocks fixed (`train --freeze-blocks K`, K = 0, 3,
            5), the steps of each K interleaved in one run (data loading not counted);
  video     with the bundled model: `p2pcount count` of a generated 60 s 1280x720 video at
            --fps 1 against the pure forward of its 60 frames (with and without start-up),
            and peak RSS on 30 s and 240 s 640x360 videos at --fps 2.

Usage: .venv/bin/python scripts/benchmark.py [--sections model,startup,...] [--quick]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from p2pcount.infer.counter import Counter  # noqa: E402
from p2pcount.model.config import ModelConfig  # noqa: E402
from p2pcount.model.network import P2PNet  # noqa: E402
from p2pcount.weights.checkpoint import load_model, save_weights  # noqa: E402

P2PCOUNT = [str(REPO / ".venv" / "bin" / "p2pcount")]
PYTHON = str(REPO / ".venv" / "bin" / "python")


# ----------------------------------------------------------------------------- reference
class ReferenceP2PNet(nn.Module):
    """The spec written plainly: VGG16(-BN) features 0-29 (0-42), FPN neck, two heads."""

    def __init__(self, batch_norm: bool) -> None:
        super().__init__()
        layers, channels = [], 3
        for item in [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
                     512, 512, 512]:  # fmt: skip
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
                continue
            layers.append(nn.Conv2d(channels, item, 3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(item))
            layers.append(nn.ReLU(inplace=True))
            channels = item
        self.features = nn.Sequential(*layers)
        self.c4_end = 33 if batch_norm else 23
        self.lateral_c4 = nn.Conv2d(512, 256, 1)
        self.lateral_c5 = nn.Conv2d(512, 256, 1)
        self.smooth = nn.Conv2d(256, 256, 3, padding=1)

        def head(out: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True),
                nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True),
                nn.Conv2d(256, out, 3, padding=1),
            )  # fmt: skip

        self.regression, self.classification = head(8), head(4)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = (x - self.mean) / self.std
        h, w = x.shape[-2:]
        x = F.pad(x, (0, (16 - w % 16) % 16, 0, (16 - h % 16) % 16))
        c4 = self.features[: self.c4_end](x)
        c5 = self.features[self.c4_end :](c4)
        p4 = self.lateral_c4(c4) + F.interpolate(self.lateral_c5(c5), scale_factor=2)
        p4 = self.smooth(p4)
        return self.regression(p4), self.classification(p4)

    def load_from(self, model: P2PNet) -> ReferenceP2PNet:
        ours = model.state_dict()
        renamed = {}
        for key, value in ours.items():
            key = key.replace("backbone.features", "features").replace("neck.output", "smooth")
            key = key.replace("neck.", "")
            for head in ("regression", "classification"):
                for old, new in (("conv1", "0"), ("conv2", "2"), ("output", "4")):
                    key = key.replace(f"{head}.{old}.", f"{head}.{new}.")
            renamed[key] = value
        self.load_state_dict(renamed, strict=False)
        return self.eval()


class ReleaseP2PNet(ReferenceP2PNet):
    """The original release's forward: the reference's, plus the FPN outputs the release
    computes and never uses (P3 at stride 4 from VGG block 3, P5's 3x3 convolution)."""

    def __init__(self, batch_norm: bool) -> None:
        super().__init__(batch_norm)
        self.c3_end = 23 if batch_norm else 16
        self.lateral_c3 = nn.Conv2d(256, 256, 1)
        self.smooth_p3 = nn.Conv2d(256, 256, 3, padding=1)
        self.smooth_p5 = nn.Conv2d(256, 256, 3, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = (x - self.mean) / self.std
        h, w = x.shape[-2:]
        x = F.pad(x, (0, (16 - w % 16) % 16, 0, (16 - h % 16) % 16))
        c3 = self.features[: self.c3_end](x)
        c4 = self.features[self.c3_end : self.c4_end](c3)
        c5 = self.features[self.c4_end :](c4)
        p5 = self.lateral_c5(c5)
        p4 = self.lateral_c4(c4) + F.interpolate(p5, scale_factor=2)
        self.smooth_p3(self.lateral_c3(c3) + F.interpolate(p4, scale_factor=2))  # unused
        self.smooth_p5(p5)  # unused
        p4 = self.smooth(p4)
        return self.regression(p4), self.classification(p4)


def release_pipeline(folder: Path) -> None:
    """The original release's `run_test.py` applied to every image of ``folder`` in turn:
    PIL open, RGB, resize to multiples of 128, to a [0, 1] tensor, the release's fp32
    forward (under ``torch.no_grad``, which its script omits: a conservative baseline),
    probabilities and points above 0.5; the model built as the release builds it (random
    weights: the time is the same)."""
    model = ReleaseP2PNet(batch_norm=False).eval()
    for path in sorted(folder.iterdir()):
        image = Image.open(path).convert("RGB")
        width, height = image.size
        image = image.resize((width // 128 * 128, height // 128 * 128), Image.Resampling.LANCZOS)
        tensor = torch.from_numpy(np.asarray(image)).permute(2, 0, 1).float().div(255)
        with torch.no_grad():
            offsets, logits = model(tensor[None])
        scores = logits.sigmoid()
        int((scores > 0.5).sum())
        offsets.permute(0, 2, 3, 1)[scores.permute(0, 2, 3, 1).repeat(1, 1, 1, 2) > 0.5]


def conv_flops(model: nn.Module, height: int, width: int) -> float:
    """2 × MACs of every convolution for one (height, width) image (padded to 16)."""
    flops = 0.0
    hooks = []

    def count(module: nn.Conv2d, _inputs, output: torch.Tensor) -> None:
        nonlocal flops
        k = module.kernel_size[0] * module.kernel_size[1]
        flops += 2.0 * module.in_channels * k * output.shape[1] * output[0, 0].numel()

    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            hooks.append(module.register_forward_hook(count))
    with torch.no_grad():
        model(torch.zeros(1, 3, height, width, device="meta"))
    for hook in hooks:
        hook.remove()
    return flops


def median_time(fn, repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    print(f"\n### {title}\n")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    sys.stdout.flush()


# ----------------------------------------------------------------------------- sections
def section_model(weights: Path, quick: bool) -> dict:
    model = load_model(weights)
    reference = ReferenceP2PNet(model.config.backbone == "vgg16_bn").load_from(model)
    meta_model = ReferenceP2PNet(model.config.backbone == "vgg16_bn").to("meta")
    fp32 = Counter(model, device="cpu", precision="fp32")
    bf16 = Counter(model, device="cpu", precision="bf16")
    sizes = [(1024, 768)] if quick else [(1024, 768), (1920, 1080)]
    batches = [1] if quick else [1, 4]
    repeats = 2 if quick else 3
    rng = np.random.default_rng(0)
    rows, figures = [], {}
    for width, height in sizes:
        flops = conv_flops(meta_model, height, width)
        for batch in batches:
            arrays = [rng.integers(0, 255, (height, width, 3), np.uint8) for _ in range(batch)]
            tensor = torch.stack([torch.from_numpy(a).permute(2, 0, 1) for a in arrays]).float()
            tensor /= 255

            def run_reference(tensor: torch.Tensor = tensor) -> None:
                with torch.no_grad():
                    reference(tensor)

            t_ref = median_time(run_reference, repeats)
            t_fp32 = median_time(lambda arrays=arrays: fp32.forward_maps(arrays), repeats)
            t_bf16 = median_time(lambda arrays=arrays: bf16.forward_maps(arrays), repeats)
            for name, t in (("reference fp32", t_ref), ("p2pcount fp32", t_fp32),
                            ("p2pcount bf16", t_bf16)):  # fmt: skip
                rows.append([
                    f"{width}x{height}", batch, name, f"{batch / t:.3f}",
                    f"{flops * batch / t / 1e9:.0f}", f"{t_ref / t:.2f}x",
                ])  # fmt: skip
            figures[(width, height, batch)] = (t_ref, t_fp32, t_bf16)
    table(
        f"Model throughput ({model.config.backbone}; conv GFLOP per 1024x768 image: "
        f"{conv_flops(meta_model, 768, 1024) / 1e9:.0f})",
        ["size", "batch", "forward", "images/s", "GFLOP/s", "vs reference"],
        rows,
    )
    return figures


def _run(command: list[str], **kwargs) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, **kwargs)
    return time.perf_counter() - start


def section_startup(weights: Path, workdir: Path, quick: bool) -> None:
    """Wall time (median, repetitions interleaved) of `p2pcount --help` and of `p2pcount
    count` of one 640x480 image with each backend, the ncnn model already cached (built
    here first), against `python -c "import torch"` in the same run (issue 17's target:
    counting with ncnn in less than the torch import alone)."""
    from p2pcount.infer.backends.selection import load_backend

    image = workdir / "small.jpg"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (480, 640, 3), np.uint8)).save(image)
    load_backend(weights, "ncnn", "cpu", "fp32")  # builds the cache entry
    repeats = 3 if quick else 7
    count = [*P2PCOUNT, "count", str(image), "-w", str(weights), "--backend"]
    commands = {
        'python -c "import torch"': [PYTHON, "-c", "import torch"],
        "p2pcount --help": [*P2PCOUNT, "--help"],
        "p2pcount count one 640x480, auto (ncnn, cached)": [*count, "auto"],
        "p2pcount count one 640x480, --backend torch": [*count, "torch"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeats):
        for name, command in commands.items():
            times[name].append(_run(command, stderr=subprocess.DEVNULL))
    medians = {name: statistics.median(t) for name, t in times.items()}
    torch_s = medians['python -c "import torch"']
    table(
        f"Start-up ({_cpu_isa()}; wall time, median of {repeats}, interleaved)",
        ["command", "seconds", "vs import torch"],
        [[name, f"{t:.2f}", f"{t / torch_s:.2f}x"] for name, t in medians.items()],
    )


def section_folder(weights: Path, workdir: Path, quick: bool, precision: str) -> None:
    """Files → decoded → batched → counted (count_paths, decoding in background threads),
    against the pure forward passes of the same batches, both warmed up, in this process;
    and the whole `p2pcount count FOLDER` command for reference."""
    from p2pcount.infer.batcher import count_paths
    from p2pcount.io.images import load_image

    n = 12 if quick else 50
    folder = _write_jpeg_folder(workdir / "frames", n, seed=2)
    paths = sorted(str(p) for p in folder.iterdir())
    counter = Counter.from_weights(weights, device="cpu", precision=precision)
    decoded = [np.asarray(load_image(p)) for p in paths]
    batches = [decoded[i : i + 4] for i in range(0, n, 4)]
    counter.forward_maps(batches[0])  # warm-up
    t_forward = median_time(lambda: [counter.forward_maps(b) for b in batches], 1, warmup=0)
    t_pipeline = median_time(lambda: list(count_paths(counter, paths, batch_size=4)), 1, 0)
    command = [*P2PCOUNT, "count", str(folder), "-w", str(weights), "--batch-size", "4",
               "--precision", precision]  # fmt: skip
    t_command = _run(command)
    table(
        f"Folder of {n} 1024x768 JPEGs ({precision}, batch 4)",
        ["measure", "images/s", "of pure forward"],
        [
            ["pure forward of the decoded batches", f"{n / t_forward:.3f}", "100%"],
            [
                "count_paths: read, decode, batch, count",
                f"{n / t_pipeline:.3f}",
                f"{t_forward / t_pipeline:.0%}",
            ],
            [
                "`p2pcount count FOLDER` incl. start-up",
                f"{n / t_command:.3f}",
                f"{t_forward / t_command:.0%}",
            ],
        ],  # fmt: skip
    )


_MAXRSS = (
    "import os, subprocess, sys\n"
    "child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
    "_, status, usage = os.wait4(child.pid, 0)\n"
    "print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)\n"
)


def _peak_rss(command: list[str]) -> tuple[int, int, float]:
    """(exit status, peak RSS in KiB, seconds) of ``command`` run from the small wrapper
    (ru_maxrss survives exec: measure from a fresh child, not from this process)."""
    start = time.perf_counter()
    wrapper = subprocess.run([sys.executable, "-c", _MAXRSS, *command],
                             capture_output=True, text=True, check=True)  # fmt: skip
    seconds = time.perf_counter() - start
    status, maxrss = (int(v) for v in wrapper.stdout.split())
    return status, maxrss, seconds


def section_memory(weights: Path, workdir: Path, quick: bool, precision: str) -> None:
    sizes = [(1920, 1080), (3840, 2160)] + ([] if quick else [(8000, 6000)])
    rows = []
    for width, height in sizes:
        image = _write_noise_image(workdir / f"big_{width}x{height}.jpg", width, height)
        command = [*P2PCOUNT, "count", str(image), "-w", str(weights), "--precision", precision]
        status, maxrss, seconds = _peak_rss(command)
        tiled = "yes" if width * height > 2048 * 2048 else "no"
        rows.append([f"{width}x{height}", tiled, f"{maxrss / 1024:.0f}",
                     f"{seconds:.1f}", status])  # fmt: skip
    table(
        f"Peak memory of `p2pcount count` ({precision})",
        ["image", "tiled", "peak RSS (MiB)", "seconds", "exit"],
        rows,
    )


def _write_video(path: Path, width: int, height: int, seconds: float, seed: int) -> Path:
    """A ``seconds``-long 25 fps H.264 MP4 (libx264 veryfast, CRF 23, yuv420p) of synthetic
    crowds: 4 distinct scenes, 5 s each in turn, seen by a camera drifting slowly over them
    (a circle of ``width / 20`` px radius every 8 s, about 2 px a frame at 1280x720), so the
    encoder and decoder do the work of real footage: motion, scene cuts, keyframes."""
    import math

    import av

    from p2pcount.data.synthetic import generate_scene

    fps, scene_seconds = 25, 5.0
    rng = np.random.default_rng(seed)
    margin = max(8, width // 20)
    people = max(20, width * height // 4000)
    scenes = [
        np.asarray(generate_scene(rng, width + 2 * margin, height + 2 * margin,
                                  int(rng.integers(people // 2, people * 2)))[0])
        for _ in range(4)
    ]  # fmt: skip
    with av.open(str(path), "w") as container:
        stream = container.add_stream(
            "libx264", rate=fps, options={"preset": "veryfast", "crf": "23"}
        )
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(round(seconds * fps)):
            t = i / fps
            scene = scenes[int(t // scene_seconds) % len(scenes)]
            angle = 2 * math.pi * t / 8
            x = round(margin * (1 + math.cos(angle)))
            y = round(margin * (1 + math.sin(angle)))
            crop = np.ascontiguousarray(scene[y : y + height, x : x + width])
            container.mux(stream.encode(av.VideoFrame.from_ndarray(crop, format="rgb24")))
        container.mux(stream.encode())
    return path


def section_video(workdir: Path, quick: bool, precision: str) -> None:
    """Video counting with the bundled model, in one run:

    - a generated 1280x720 video (60 s; --quick 10 s) at ``--fps 1``: the whole
      ``p2pcount count VIDEO --fps 1`` command (wall time, start-up included) against the
      pure forward time of its frames (the same frames decoded beforehand with VideoReader,
      counted one by one with Counter.count_batch after a warm-up, in this process), with
      and without the command's start-up (``p2pcount count`` of one 64x64 image);
      repetitions interleaved, medians;
    - peak RSS of ``p2pcount count VIDEO --fps 2`` on a short and a long 640x360 video
      (30 s and 240 s; --quick 10 s and 40 s), each in a fresh child.

    Goals (issue 15): command within 10 % of the pure forward, peak RSS within 10 %.
    """
    from p2pcount.infer.precision import choose_precision
    from p2pcount.io.video import Sampling, VideoReader
    from p2pcount.weights.registry import resolve_weights

    model = "synthetic-demo"
    options = ["-w", model, "--precision", precision]
    seconds = 10 if quick else 60
    repeats = 1 if quick else 3
    start = time.perf_counter()
    video = _write_video(workdir / "video_1280x720.mp4", 1280, 720, seconds, seed=11)
    memory_seconds = (10, 40) if quick else (30, 240)
    short, long = (
        _write_video(workdir / f"video_640x360_{s}s.mp4", 640, 360, s, seed=12)
        for s in memory_seconds
    )
    made = time.perf_counter() - start
    tiny = workdir / "tiny.jpg"
    Image.fromarray(np.random.default_rng(13).integers(0, 255, (64, 64, 3), np.uint8)).save(tiny)

    with VideoReader(str(video), Sampling(fps=1)) as reader:
        frames = [frame.image for frame in reader]
    counter = Counter.from_weights(resolve_weights(model), device="auto", precision=precision)
    compute = choose_precision(precision, torch.device(counter.device).type)
    counter.count_batch([frames[0]])  # warm-up

    def forward() -> None:
        for frame in frames:
            counter.count_batch([frame])

    command = [*P2PCOUNT, "count", str(video), "--fps", "1", *options]
    startup_command = [*P2PCOUNT, "count", str(tiny), *options]
    t_forward, t_command, t_startup = [], [], []
    for _ in range(repeats):  # interleaved, so that drift on a shared machine hits all three
        t_command.append(_run(command, stderr=subprocess.DEVNULL))
        t_forward.append(median_time(forward, 1, warmup=0))
        t_startup.append(_run(startup_command, stderr=subprocess.DEVNULL))
    forward_s, command_s, startup_s = (statistics.median(t)
                                       for t in (t_forward, t_command, t_startup))  # fmt: skip
    n = len(frames)
    size_mb = video.stat().st_size / 1e6
    table(
        f"Video: {seconds} s 1280x720 H.264 at 25 fps ({size_mb:.1f} MB, "
        f"{size_mb * 8 / seconds:.1f} Mbit/s), `--fps 1` ({n} frames); {model}, "
        f"{precision} = {compute}; median of {repeats}",
        ["measure", "seconds", "frames/s", "vs pure forward"],
        [
            ["pure forward: count_batch of the decoded frames, one by one",
             f"{forward_s:.2f}", f"{n / forward_s:.3f}", "1.00x"],
            ["`p2pcount count VIDEO --fps 1`, whole command",
             f"{command_s:.2f}", f"{n / command_s:.3f}", f"{command_s / forward_s:.3f}x"],
            ["start-up: `p2pcount count` of one 64x64 image",
             f"{startup_s:.2f}", "", ""],
            ["command - start-up",
             f"{command_s - startup_s:.2f}", f"{n / (command_s - startup_s):.3f}",
             f"{(command_s - startup_s) / forward_s:.3f}x"],
        ],
    )  # fmt: skip
    per_run = ", ".join(f"{c / f:.3f}x" for c, f in zip(t_command, t_forward, strict=True))
    print(f"\n- command / forward per repetition: {per_run}")

    rows, peaks = [], []
    for path, length in zip((short, long), memory_seconds, strict=True):
        status, maxrss, wall = _peak_rss([*P2PCOUNT, "count", str(path), "--fps", "2", *options])
        peaks.append(maxrss)
        rows.append([f"{length} s 640x360", length * 2, f"{maxrss / 1024:.0f}",
                     f"{wall:.1f}", status])  # fmt: skip
    table(
        f"Peak memory of `p2pcount count VIDEO --fps 2` ({model}, {compute})",
        ["video", "frames counted", "peak RSS (MiB)", "seconds", "exit"],
        rows,
    )
    rss_ratio = peaks[1] / peaks[0]
    print(f"\n- peak RSS {memory_seconds[1]} s / {memory_seconds[0]} s: {rss_ratio:.3f}x")

    def verdict(ratio: float) -> str:
        return "met" if ratio <= 1.10 else "MISSED"

    print(
        f"- goals (within 10 %): command / forward {command_s / forward_s:.3f}x "
        f"{verdict(command_s / forward_s)}; (command - start-up) / forward "
        f"{(command_s - startup_s) / forward_s:.3f}x "
        f"{verdict((command_s - startup_s) / forward_s)}; peak RSS {rss_ratio:.3f}x "
        f"{verdict(rss_ratio)}"
    )
    print(f"- (generating the three videos took {made:.0f} s)")
    sys.stdout.flush()


def section_tiling(precision: str) -> None:
    """A 2048x1536 synthetic crowd counted whole and in 1024-px tiles (bundled model)."""
    from p2pcount.data.synthetic import generate_scene
    from p2pcount.evaluate.metrics import match_points

    weights = REPO / "weights" / "synthetic-demo.safetensors"
    image, truth = generate_scene(np.random.default_rng(7), 2048, 1536, 600)
    whole = Counter.from_weights(weights, device="cpu", precision=precision, tile_above=0)
    tiled = Counter.from_weights(weights, device="cpu", precision=precision, tile_above=1)
    a, b = whole.count(image), tiled.count(image)
    pred, gt = match_points(b.points, a.points, radius=1.0)
    table(
        f"Tiled against whole-image counting, 2048x1536, {len(truth)} heads ({precision})",
        ["measure", "whole", "tiled (1024 px cores)", "difference"],
        [
            ["count", a.count, b.count, f"{(b.count - a.count) / max(a.count, 1):+.2%}"],
            [
                "soft count",
                f"{a.soft_count:.1f}",
                f"{b.soft_count:.1f}",
                f"{(b.soft_count - a.soft_count) / max(a.soft_count, 1e-9):+.3%}",
            ],
            ["points matched within 1 px", "", f"{len(pred)} of {a.count}", ""],
        ],  # fmt: skip
    )


def section_train_step(workdir: Path, quick: bool, precision: str) -> None:
    """Seconds per training step with 0, 3 and 5 frozen VGG blocks, on the same batches,
    each K's steps interleaved with the others' (so drift in the machine's speed hits all)."""
    from p2pcount.data.datasets import load_dataset
    from p2pcount.data.synthetic import write_dataset
    from p2pcount.train.config import TrainConfig
    from p2pcount.train.trainer import Trainer

    data = write_dataset(workdir / "train-data", count=8, seed=3, min_size=256, max_size=320)
    samples = load_dataset(data)
    frozen = (0, 3, 5)
    trainers = {}
    for blocks in frozen:
        config = TrainConfig(
            epochs=1, batch_size=8, workers=0, seed=0, device="cpu", precision=precision,
            frozen_blocks=blocks,
        )  # fmt: skip
        trainers[blocks] = Trainer(samples, workdir / f"train-{blocks}", config, ModelConfig())
    loader = trainers[0].loader
    trainers[0].batches.set_epoch(0)
    trainers[0].dataset.set_epoch(0)
    (batch,) = list(loader)  # 8 images: one batch of 32 crops
    times: dict[int, list[float]] = {blocks: [] for blocks in frozen}
    repeats = 2 if quick else 5
    for round_ in range(repeats + 1):  # round 0 warms up
        for blocks, trainer in trainers.items():
            start = time.perf_counter()
            trainer.step(*batch)
            if round_:
                times[blocks].append(time.perf_counter() - start)
    base = statistics.median(times[0])
    dtype = trainers[0].autocast_dtype or "fp32"
    table(
        f"training step, 8 images x 4 crops of 128 px, {dtype}, {_cpu_isa()}, median of {repeats}",
        ["--freeze-blocks", "s/step", "speed-up over 0"],
        [
            [str(b), f"{statistics.median(t):.2f}", f"{base / statistics.median(t):.2f}x"]
            for b, t in times.items()
        ],  # fmt: skip
    )


def _cpu_isa() -> str:
    """The vector extensions that matter here, from /proc/cpuinfo (Linux)."""
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16")
    try:
        flags = Path("/proc/cpuinfo").read_text().split("flags", 1)[1].split("\n", 1)[0].split()
    except (OSError, IndexError):
        return "unknown ISA"
    return ", ".join(flag for flag in wanted if flag in flags) or "no AVX2"


def section_backend(weights: Path, workdir: Path, quick: bool) -> None:
    """ncnn against PyTorch on the CPU, 2 threads, batch 1, same run: ncnn fp32 (and bf16 and
    fp16 storage) against PyTorch fp32 (and bf16 where the CPU has native bf16), at
    1024x768 and 1920x1080."""
    from p2pcount.infer.backends.selection import load_backend
    from p2pcount.infer.precision import cpu_has_native_bf16

    threads, repeats = 2, 2 if quick else 3
    runs = [("torch", "fp32"), ("ncnn", "fp32"), ("ncnn", "bf16"), ("ncnn", "fp16")]
    if cpu_has_native_bf16():
        runs.insert(1, ("torch", "bf16"))
    sizes = [(1024, 768)] if quick else [(1024, 768), (1920, 1080)]
    rng = np.random.default_rng(0)
    batches = {size: rng.integers(0, 255, (1, size[1], size[0], 3), np.uint8) for size in sizes}
    times = {}
    for run in runs:  # one backend at a time: each holds its buffers until dropped
        backend = load_backend(weights, run[0], "cpu", run[1], threads)
        for size, batch in batches.items():
            times[size, run] = median_time(lambda b=backend, x=batch: b.forward_maps(x), repeats)
        del backend
    rows = []
    for size in sizes:
        for name, precision in runs:
            t, ratio = times[size, (name, precision)], times[size, ("torch", "fp32")]
            rows.append([f"{size[0]}x{size[1]}", name, precision, f"{t:.3f}", f"{ratio / t:.2f}x"])
    table(
        f"Backends ({_cpu_isa()}; {threads} threads, batch 1, random {weights.stem} weights)",
        ["size", "backend", "precision", "seconds", "vs torch fp32"],
        rows,
    )


def _write_jpeg_folder(folder: Path, n: int, seed: int) -> Path:
    """``folder`` holding ``n`` 1024x768 JPEGs of smooth random colour (quality 90)."""
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        array = rng.integers(0, 255, (768 // 8, 1024 // 8, 3), np.uint8)
        Image.fromarray(array).resize((1024, 768), Image.Resampling.BILINEAR).save(
            folder / f"{i:03d}.jpg", quality=90
        )
    return folder


def _write_noise_image(path: Path, width: int, height: int) -> Path:
    """A ``width`` × ``height`` JPEG of smooth random colour (seed 3), for memory runs."""
    small = np.random.default_rng(3).integers(0, 255, (height // 16, width // 16, 3), np.uint8)
    Image.fromarray(small).resize((width, height)).save(path, quality=85)
    return path


def section_backend_memory(weights: Path, workdir: Path, quick: bool) -> None:
    """Peak RSS and wall time of `p2pcount count` by backend (fp32, 2 threads, ncnn model
    built into the cache beforehand): whole images (``--tile-above 0``) at 1920x1080 and
    2048x2048, and a tiled 8000x6000 (--quick: 3840x2160) with ncnn's tile sizes 512, 640,
    768 and 1024 and PyTorch's 1024; seconds also as a ratio to ncnn with 1024-px tiles."""
    from p2pcount.infer.backends.selection import load_backend

    threads = 2
    load_backend(weights, "ncnn", "cpu", "fp32", threads)  # builds the cache entry
    base = [*P2PCOUNT, "count", "-w", str(weights), "--precision", "fp32",
            "--threads", str(threads)]  # fmt: skip
    rows = []
    for width, height in [(1920, 1080), (2048, 2048)]:
        image = _write_noise_image(workdir / f"whole_{width}x{height}.jpg", width, height)
        for name in ("ncnn", "torch"):
            command = [*base, str(image), "--backend", name, "--tile-above", "0"]
            status, maxrss, seconds = _peak_rss(command)
            rows.append([f"{width}x{height}", name, "whole", f"{maxrss / 1024:.0f}",
                         f"{seconds:.1f}", "", status])  # fmt: skip
    width, height = (3840, 2160) if quick else (8000, 6000)
    image = _write_noise_image(workdir / f"tiled_{width}x{height}.jpg", width, height)
    runs = [("ncnn", 1024), ("ncnn", 768), ("ncnn", 640), ("ncnn", 512), ("torch", 1024)]
    tiled = {}
    for name, tile in runs:
        command = [*base, str(image), "--backend", name, "--tile", str(tile), "--tile-above", "1"]
        tiled[name, tile] = _peak_rss(command)
    for (name, tile), (status, maxrss, seconds) in tiled.items():
        ratio = tiled["ncnn", 1024][2] / seconds
        rows.append([f"{width}x{height}", name, tile, f"{maxrss / 1024:.0f}", f"{seconds:.1f}",
                     f"{ratio:.2f}x", status])  # fmt: skip
    table(
        f"Peak memory of `p2pcount count` by backend ({_cpu_isa()}; fp32, {threads} threads, "
        "ncnn model cached)",
        [
            "image",
            "backend",
            "tile",
            "peak RSS (MiB)",
            "seconds",
            "speed vs ncnn 1024",
            "exit",
        ],  # fmt: skip
        rows,
    )


def section_folder_backends(weights: Path, workdir: Path, quick: bool) -> None:
    """End to end, same run, repetitions interleaved: `p2pcount count FOLDER` of 16
    generated 1024x768 JPEGs (--quick: 8) with ``auto`` (ncnn on the CPU, model cached)
    and with ``--backend torch`` (at ``--precision auto`` and fp32), against the original
    release's pipeline (:func:`release_pipeline`, in a fresh Python process as its script
    runs); every command's start-up included (issue 17's target: auto >= 2.5x the
    release's pipeline on AVX2 CPUs)."""
    from p2pcount.infer.backends.selection import load_backend

    n = 8 if quick else 16
    folder = _write_jpeg_folder(workdir / "folder16", n, seed=4)
    load_backend(weights, "ncnn", "cpu", "fp32")  # builds the cache entry
    count = [*P2PCOUNT, "count", str(folder), "-w", str(weights)]
    release = "the original release's pipeline (fp32)"
    commands = {
        release: [PYTHON, __file__, "--release-pipeline", str(folder)],
        "`p2pcount count FOLDER` (auto: ncnn fp32)": count,
        "`p2pcount count FOLDER --backend torch` (precision auto)": [*count, "--backend", "torch"],
        "`p2pcount count FOLDER --backend torch --precision fp32`": [
            *count, "--backend", "torch", "--precision", "fp32",
        ],
    }  # fmt: skip
    repeats = 1 if quick else 2
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeats):
        for name, command in commands.items():
            times[name].append(_run(command, stderr=subprocess.DEVNULL))
    medians = {name: statistics.median(t) for name, t in times.items()}
    table(
        f"Folder of {n} 1024x768 JPEGs end to end ({_cpu_isa()}; {os.cpu_count()} threads, "
        f"batch 1, median of {repeats}, interleaved)",
        ["command", "seconds", "images/s", "vs release's pipeline"],
        [[name, f"{t:.1f}", f"{n / t:.3f}", f"{medians[release] / t:.2f}x"]
         for name, t in medians.items()],
    )  # fmt: skip


def section_accuracy(quick: bool) -> None:
    weights = REPO / "weights" / "synthetic-demo.safetensors"
    test_list = REPO / "data" / "syn-test" / "list.txt"
    if not weights.is_file() or not test_list.is_file():
        print(
            "\n(accuracy: needs weights/synthetic-demo.safetensors and data/syn-test; "
            "make it with scripts/make_synthetic.py data/syn-test --count 120 --seed 3)"
        )
        return
    from p2pcount.data.datasets import load_dataset
    from p2pcount.io.images import load_image

    samples = load_dataset(test_list)[: 20 if quick else 100]
    fp32 = Counter.from_weights(weights, device="cpu", precision="fp32")
    bf16 = Counter.from_weights(weights, device="cpu", precision="bf16")
    hard = [0, 0]
    soft = [0.0, 0.0]
    worst = 0.0
    for sample in samples:
        image = load_image(sample.image, exif=False)
        a, b = fp32.count(image), bf16.count(image)
        hard[0] += a.count
        hard[1] += b.count
        soft[0] += a.soft_count
        soft[1] += b.soft_count
        worst = max(worst, abs(a.count - b.count) / max(a.count, 1))
    table(
        f"bf16 against fp32 on {len(samples)} synthetic test images",
        ["measure", "fp32", "bf16", "difference"],
        [
            ["total hard count", hard[0], hard[1], f"{(hard[1] - hard[0]) / max(hard[0], 1):+.2%}"],
            [
                "total soft count",
                f"{soft[0]:.1f}",
                f"{soft[1]:.1f}",
                f"{(soft[1] - soft[0]) / max(soft[0], 1e-9):+.2%}",
            ],
            ["worst image (hard)", "", "", f"{worst:.2%}"],
        ],  # fmt: skip
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sections",
        default="model,startup,folder,folder_backends,memory,tiling,accuracy,backend,"
        "backend_memory,video,train_step",
    )
    parser.add_argument("--quick", action="store_true", help="Fewer sizes and repetitions.")
    parser.add_argument("--backbone", default="vgg16", choices=["vgg16", "vgg16_bn"])
    parser.add_argument(
        "--precision", default="auto", help="For folder, memory, video, train_step."
    )
    parser.add_argument("--release-pipeline", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.release_pipeline is not None:  # a child of section_folder_backends
        release_pipeline(args.release_pipeline)
        return
    sections = args.sections.split(",")
    print(f"## p2pcount benchmark ({time.strftime('%Y-%m-%d')})\n")
    print(f"- machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        os.environ["P2PCOUNT_HOME"] = str(workdir / "home")  # a fresh ncnn cache, built here
        torch.manual_seed(0)
        weights = save_weights(workdir / "bench.safetensors", P2PNet(ModelConfig(args.backbone)))
        if "model" in sections:
            section_model(weights, args.quick)
        if "startup" in sections:
            section_startup(weights, workdir, args.quick)
        if "folder" in sections:
            section_folder(weights, workdir, args.quick, args.precision)
        if "folder_backends" in sections:
            section_folder_backends(weights, workdir, args.quick)
        if "memory" in sections:
            section_memory(weights, workdir, args.quick, args.precision)
        if "tiling" in sections:
            section_tiling(args.precision)
        if "accuracy" in sections:
            section_accuracy(args.quick)
        if "backend" in sections:
            section_backend(weights, workdir, args.quick)
        if "backend_memory" in sections:
            section_backend_memory(weights, workdir, args.quick)
        if "video" in sections:
            section_video(workdir, args.quick, args.precision)
        if "train_step" in sections:
            section_train_step(workdir, args.quick, args.precision)


if __name__ == "__main__":
    main()

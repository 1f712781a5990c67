"""The PyTorch backend: the batch-norm-folded, channels-last network on a CPU or CUDA device,
in the precision asked for."""

from __future__ import annotations

import numpy as np
import torch

from p2pcount.infer.backends.base import InferenceBackend
from p2pcount.infer.device import resolve_device, resolve_precision
from p2pcount.model.folding import inference_network, receptive_field
from p2pcount.model.network import P2PNet


class TorchBackend(InferenceBackend):
    """``model`` prepared for inference (:func:`~p2pcount.model.folding.inference_network`).

    Args:
        model: the network.
        device: ``"auto"`` (CUDA if available), ``"cpu"``, ``"cuda"`` or a torch device.
        precision: ``"fp32"``, ``"bf16"``, ``"fp16"`` (CUDA) or ``"auto"`` (bf16 on CPUs
            with native bf16, fp16 autocast on CUDA, fp32 elsewhere).
        copy_model: leave ``model`` untouched (False: convert it in place, saving memory).

    Attributes:
        torch_device: the resolved torch device.
        weight_dtype: dtype the weights were cast to once (bf16 on the CPU), else None.
        autocast_dtype: dtype of autocast on CUDA (fp32 weights, fp16/bf16 math), else None.
        net: the inference network.
    """

    name = "torch"

    def __init__(
        self,
        model: P2PNet,
        device: str | torch.device = "auto",
        precision: str = "fp32",
        copy_model: bool = True,
    ) -> None:
        self.torch_device = resolve_device(device)
        super().__init__(model.config, receptive_field(model), str(self.torch_device))
        compute = resolve_precision(precision, self.torch_device)
        # bf16 on the CPU: weights cast once. CUDA: autocast (fp32 weights, fp16 math).
        self.weight_dtype = compute if self.torch_device.type == "cpu" else None
        self.autocast_dtype = compute if self.torch_device.type == "cuda" else None
        self.net = inference_network(model, self.torch_device, self.weight_dtype, copy_model)

    @torch.inference_mode()
    def forward_maps(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """See :meth:`InferenceBackend.forward_maps`; on CUDA the batch goes through pinned
        memory and the maps come back to the host."""
        pixels = torch.from_numpy(batch)  # (B, H, W, 3): channels-last as NCHW
        if self.torch_device.type == "cuda":
            pixels = pixels.pin_memory().to(self.torch_device, non_blocking=True)
        images = pixels.permute(0, 3, 1, 2).to(self.weight_dtype or torch.float32).div_(255.0)
        with torch.autocast(
            self.torch_device.type,
            dtype=self.autocast_dtype,
            enabled=self.autocast_dtype is not None,
        ):
            offsets, logits = self.net(images)
        return offsets.float().cpu().numpy(), logits.float().cpu().numpy()

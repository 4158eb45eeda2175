"""The paper's networks: generator G, PatchGAN discriminator D, feature extractor F, classifier C.

All networks take 1-channel images in [0, 1], shape (N, 1, H, W) with H, W divisible by 32
(G has five stride-2 levels). Widths follow the authors' code (see method-facts.md); a
``width`` multiplier scales every channel count for the CPU preset.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn as nn
import torch.nn.functional as Fnn

if TYPE_CHECKING:  # torchvision (about 2 s to import) only for the classifier, inside its builder
    import torchvision

PAPER_G_CHANNELS = (32, 64, 96, 128, 256, 384, 512)  # stem, full-res block, five down levels
PAPER_D_CHANNELS = (32, 64, 64, 128, 128, 256, 256, 512, 512)
FEATURE_WEIGHTS = (3.0, 2.5, 2.0, 1.5, 1.0)


def scaled(channels: tuple[int, ...], width: float) -> tuple[int, ...]:
    """Scale channel counts by ``width`` (rounded to multiples of 4, at least 4)."""
    if width <= 0:
        raise ValueError(f"width multiplier must be > 0, got {width}")
    return tuple(max(4, int(round(c * width / 4.0)) * 4) for c in channels)


def init_normal(module: nn.Module) -> None:
    """N(0, 0.02) weights, zero bias for every conv (the authors' init)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class ResBlock(nn.Module):
    """conv3x3-IN-LReLU-conv3x3-IN plus (1x1 conv + IN when channels change), LReLU after add."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1),
            nn.InstanceNorm2d(cout),
            nn.LeakyReLU(0.2),
            nn.Conv2d(cout, cout, 3, padding=1),
            nn.InstanceNorm2d(cout),
        )
        self.skip = (
            nn.Identity()
            if cin == cout
            else nn.Sequential(nn.Conv2d(cin, cout, 1), nn.InstanceNorm2d(cout))
        )
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.skip(x))


class Down(nn.Module):
    """3x3 stride-2 conv (same channels) + IN + LReLU, then a residual block to ``cout``."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.down = nn.Sequential(
            nn.Conv2d(cin, cin, 3, stride=2, padding=1), nn.InstanceNorm2d(cin), nn.LeakyReLU(0.2)
        )
        self.block = ResBlock(cin, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(self.down(x))


class Up(nn.Module):
    """2x2 stride-2 transposed conv (same channels) + IN + ReLU, concatenate the skip, then a
    residual block to ``cout`` (this layout gives the authors' 20.3 M parameters)."""

    def __init__(self, cin: int, cskip: int, cout: int):
        super().__init__()
        self.up = nn.Sequential(
            nn.ConvTranspose2d(cin, cin, 2, stride=2), nn.InstanceNorm2d(cin), nn.ReLU()
        )
        self.block = ResBlock(cin + cskip, cout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.block(torch.cat([self.up(x), skip], dim=1))


class Generator(nn.Module):
    """Residual U-Net G: (N, 1, H, W) in [0, 1] -> (N, 1, H, W) in [0, 1] (sigmoid head).

    G predicts the "normal-looking" image itself, not a residual. H and W must be divisible by 32.
    At ``width=1`` it has about 20.3 M parameters (the paper's size).
    """

    def __init__(self, width: float = 1.0):
        super().__init__()
        c = scaled(PAPER_G_CHANNELS, width)
        self.width = width
        self.channels = c
        self.stem = nn.Sequential(nn.Conv2d(1, c[0], 3, padding=1), nn.InstanceNorm2d(c[0]), nn.LeakyReLU(0.2))
        self.full = ResBlock(c[0], c[1])
        self.downs = nn.ModuleList(Down(c[i], c[i + 1]) for i in range(1, 6))
        self.ups = nn.ModuleList(Up(c[i + 1], c[i], c[i]) for i in reversed(range(1, 6)))
        self.head = nn.Conv2d(c[1], 1, 1)
        init_normal(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(f"Generator expects (N, 1, H, W), got {tuple(x.shape)}")
        if x.shape[-1] % 32 or x.shape[-2] % 32:
            raise ValueError(f"Generator needs H and W divisible by 32, got {tuple(x.shape[-2:])}")
        h = self.full(self.stem(x))
        skips = [h]
        for down in self.downs:
            h = down(h)
            skips.append(h)
        skips.pop()  # the bottom is h itself
        for up in self.ups:
            h = up(h, skips.pop())
        return torch.sigmoid(self.head(h))


class MinibatchStdDev(nn.Module):
    """Appends one channel holding the mean over features and positions of the batch std."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        std = torch.sqrt(x.float().var(dim=0, unbiased=False) + 1e-8).mean().to(x.dtype)
        return torch.cat([x, std.expand(x.shape[0], 1, x.shape[2], x.shape[3])], dim=1)


class Discriminator(nn.Module):
    """PatchGAN D: ten 3x3 convs, IN + LReLU 0.2 after each but the last; minibatch-stddev
    channel before the last conv. (N, 1, 256, 256) -> (N, 1, 16, 16) patch scores."""

    STRIDES = (1, 2, 1, 2, 1, 2, 1, 2, 1)

    def __init__(self, width: float = 1.0):
        super().__init__()
        c = scaled(PAPER_D_CHANNELS, width)
        layers: list[nn.Module] = []
        cin = 1
        for cout, s in zip(c, self.STRIDES):
            layers += [nn.Conv2d(cin, cout, 3, stride=s, padding=1), nn.InstanceNorm2d(cout), nn.LeakyReLU(0.2)]
            cin = cout
        self.features = nn.Sequential(*layers)
        self.mbstd = MinibatchStdDev()
        self.out = nn.Conv2d(cin + 1, 1, 3, padding=1)
        init_normal(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.mbstd(self.features(x)))


class MultiScaleDiscriminator(nn.Module):
    """Not in the paper: the PatchGAN D at several input scales (as pix2pixHD), so that the
    coarse scales judge wider regions (extensive ground glass) than one D's receptive field.
    Scale ``k`` is its own :class:`Discriminator` on the input average-pooled by ``2**k``; its
    patch scores are upsampled (nearest) to scale 0's grid and stacked as channels, so each
    scale weighs the same in the LSGAN losses, which average over all elements.
    (N, 1, H, W) -> (N, scales, H / 16, W / 16); H and W multiples of ``16 * 2**(scales - 1)``."""

    def __init__(self, width: float = 1.0, scales: int = 2):
        super().__init__()
        if isinstance(scales, bool) or not isinstance(scales, int) or not 2 <= scales <= 4:
            raise ValueError(f"multi-scale D: scales must be a whole number from 2 to 4, got {scales!r}")
        self.scales = nn.ModuleList(Discriminator(width) for _ in range(scales))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = self.scales[0](x)
        outs = [first]
        for k, d in enumerate(self.scales[1:], 1):
            coarse = d(Fnn.avg_pool2d(x, 2 ** k))
            outs.append(Fnn.interpolate(coarse, size=first.shape[-2:], mode="nearest"))
        return torch.cat(outs, 1)


def build_discriminator(width: float = 1.0, scales: int = 1) -> nn.Module:
    """The paper's :class:`Discriminator` for ``scales`` 1, else a :class:`MultiScaleDiscriminator`."""
    if scales == 1:
        return Discriminator(width)
    return MultiScaleDiscriminator(width, scales)


def build_resnet18(num_classes: int = 2) -> torchvision.models.ResNet:
    """torchvision ResNet-18 with a 1-channel 7x7 stride-2 first conv and a ``num_classes`` head.

    Randomly initialised: no pretrained weights are ever downloaded.
    """
    import torchvision

    net = torchvision.models.resnet18(weights=None, num_classes=num_classes)
    net.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    return net


@dataclass(frozen=True)
class FeatureTaps:
    """The five tapped activations f1..f5 of ResNet-18 (see method-facts.md)."""

    f1: torch.Tensor
    f2: torch.Tensor
    f3: torch.Tensor
    f4: torch.Tensor
    f5: torch.Tensor

    def as_tuple(self) -> tuple[torch.Tensor, ...]:
        return (self.f1, self.f2, self.f3, self.f4, self.f5)


def resnet18_taps(net: torchvision.models.ResNet, x: torch.Tensor) -> FeatureTaps:
    """Computes f1..f5 explicitly, without hooks (in-place ReLU would corrupt hooked outputs).

    f1 = relu(bn1(conv1(x))); f2 = layer1[0] after its first conv-bn-relu; f3 = layer1[0] output;
    f4 = layer1[1] after its first conv-bn-relu; f5 = layer1[1] output. Note f2..f5 are taken
    after the max-pool, as in torchvision's forward.
    """
    f1 = Fnn.relu(net.bn1(net.conv1(x)))
    h = net.maxpool(f1)
    taps = [f1]
    for block in (net.layer1[0], net.layer1[1]):
        mid = Fnn.relu(block.bn1(block.conv1(h)))
        out = block.bn2(block.conv2(mid))
        identity = h if block.downsample is None else block.downsample(h)
        h = Fnn.relu(out + identity)
        taps += [mid, h]
    return FeatureTaps(*taps)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())

import pytest
import torch

from gan.networks import (Discriminator, Generator, MinibatchStdDev, build_resnet18, count_parameters,
                          resnet18_taps, scaled)


def test_paper_size_parameter_counts():
    # method-facts.md: G about 20.3 M, D about 4.7 M parameters
    assert abs(count_parameters(Generator(1.0)) - 20.3e6) < 0.1e6
    assert abs(count_parameters(Discriminator(1.0)) - 4.7e6) < 0.1e6


def test_generator_shapes_and_range_small():
    g = Generator(width=0.125)
    x = torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        y = g(x)
    assert y.shape == x.shape
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0


def test_generator_rejects_bad_shapes():
    g = Generator(width=0.125)
    for bad in (torch.rand(1, 3, 64, 64), torch.rand(1, 1, 60, 64), torch.rand(1, 64, 64)):
        try:
            g(bad)
        except ValueError as exc:
            assert "Generator" in str(exc)
        else:
            raise AssertionError("expected ValueError")


def test_discriminator_patch_output():
    d = Discriminator(width=0.125)
    assert d(torch.rand(3, 1, 64, 64)).shape == (3, 1, 4, 4)
    assert Discriminator(0.125)(torch.rand(2, 1, 256, 256)).shape == (2, 1, 16, 16)


def test_minibatch_stddev_channel():
    x = torch.zeros(4, 2, 3, 3)
    x[0] = 1.0
    out = MinibatchStdDev()(x)
    assert out.shape == (4, 3, 3, 3)
    assert torch.allclose(out[:, 2], torch.full((4, 3, 3), float(torch.sqrt(torch.tensor(0.1875 + 1e-8)))))


def test_width_scaling():
    assert scaled((32, 64), 0.5) == (16, 32)
    assert scaled((32,), 0.01) == (4,)


def test_feature_taps_shapes_and_values():
    net = build_resnet18(2).eval()
    x = torch.rand(1, 1, 64, 64)
    taps = resnet18_taps(net, x).as_tuple()
    assert [tuple(t.shape) for t in taps] == [(1, 64, 32, 32)] + [(1, 64, 16, 16)] * 4
    # f5 must equal the real layer1 output (torchvision forward), f1 the stem before max-pool
    with torch.no_grad():
        stem = net.relu(net.bn1(net.conv1(x)))
        l1 = net.layer1(net.maxpool(stem))
    assert torch.allclose(taps[0], stem) and torch.allclose(taps[4], l1, atol=1e-6)
    assert all(float(t.detach().min()) >= 0 for t in taps)  # all taken after ReLU
    # the intermediate tap equals layer1[0]'s first conv-bn-relu
    with torch.no_grad():
        mid = torch.relu(net.layer1[0].bn1(net.layer1[0].conv1(net.maxpool(stem))))
    assert torch.allclose(taps[1], mid)


def test_resnet18_one_channel():
    net = build_resnet18(2)
    assert net.conv1.in_channels == 1 and net.fc.out_features == 2
    assert net(torch.rand(2, 1, 64, 64)).shape == (2, 2)


def test_multi_scale_discriminator_stacks_every_scale_on_the_first_grid():
    import torch.nn.functional as F

    from gan.networks import MultiScaleDiscriminator, build_discriminator

    torch.manual_seed(0)
    d = MultiScaleDiscriminator(0.125, scales=3)
    x = torch.rand(2, 1, 128, 128)
    out = d(x)
    assert out.shape == (2, 3, 8, 8)
    assert torch.equal(out[:, :1], d.scales[0](x))
    # scale 2 judged the input pooled 4x (32 px: 2 x 2 patch scores), each repeated over 4 x 4
    coarse = d.scales[2](F.avg_pool2d(x, 4))
    assert coarse.shape == (2, 1, 2, 2)
    assert torch.equal(out[:, 2:3], F.interpolate(coarse, size=(8, 8), mode="nearest"))
    assert isinstance(build_discriminator(0.125, 1), Discriminator)
    for bad in (1, 5, 2.0, True):
        with pytest.raises(ValueError, match="whole number from 2 to 4"):
            MultiScaleDiscriminator(0.125, scales=bad)

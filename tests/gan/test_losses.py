import torch

from gan import losses


def test_lsgan_losses_by_hand():
    d_real = torch.tensor([1.0, 0.5])
    d_fake = torch.tensor([0.0, 0.5])
    # ((0 + 0.25)/2 + (0 + 0.25)/2) = 0.25, halved 0.125
    assert torch.isclose(losses.lsgan_d_loss(d_real, d_fake), torch.tensor(0.125))
    assert torch.isclose(losses.lsgan_d_loss(d_real, d_fake, halve=False), torch.tensor(0.25))
    assert torch.isclose(losses.lsgan_g_loss(d_fake), torch.tensor((1 + 0.25) / 2))
    smoothed = losses.lsgan_d_loss(torch.tensor([0.9]), torch.tensor([0.0]), torch.tensor([0.8]), halve=False)
    assert torch.isclose(smoothed, torch.tensor(0.01))


def test_consistency_and_feature_match():
    x = torch.zeros(1, 1, 2, 2)
    gx = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    assert torch.isclose(losses.consistency_loss(gx, x), torch.tensor(0.5))
    a = [torch.ones(1, 2)] * 5
    b = [torch.zeros(1, 2)] * 5
    assert torch.isclose(losses.feature_match_loss(a, b), torch.tensor(3.0 + 2.5 + 2.0 + 1.5 + 1.0))


def test_localization_map_is_relu_of_difference():
    x = torch.tensor([0.2, 0.8])
    gx = torch.tensor([0.5, 0.3])
    assert torch.allclose(losses.localization_map(x, gx), torch.tensor([0.0, 0.5]))


def test_classifier_loss_matches_cross_entropy():
    logits = torch.tensor([[2.0, 0.0]])
    expected = -torch.log_softmax(logits, 1)[0, 1]
    assert torch.isclose(losses.classifier_loss(logits, torch.tensor([1])), expected)

"""10 MAE: the notebook's gpu and paper code paths executed at toy scale on CPU (issue 10, item 6).

The notebook's own cells run in-process (tests/fakes.run_notebook_cells) at its gpu / paper profile. Kept from
each profile: the dataset and its loader (fake CIFAR-10 pickles; a fake ImageNet folder), the recipe fields
(gradient accumulation, online LARS linear probe, Table 9 fine-tuning with accumulation, Table 11 scratch
baseline with EMA, partial fine-tuning, the timing model built at another size), and one arm of each kind
the profile runs (ratio, sampling, decoder depth / width, mask token, schedule, augmentation, loss on all
patches, norm-pix). Shrunk: 32-px tiny ViTs, 2 epochs of 2-image batches, 1 optimizer step per phase."""
import pytest

from fakes import results, run_notebook_cells, skip_cifar_md5, write_cifar, write_imagefolder

SLUG = "10_mae"
SMALL = dict(batch_size=2, epochs=2, max_steps=2, ablation_epochs=1, ref_seeds=2, warmup_epochs=1,
             ratios=[0.5, 0.75], ft_ratios=[0.75], ft_epochs=1, ft_warmup_epochs=0, ft_batch_size=2,
             lp_epochs=1, lp_warmup_epochs=0, lp_batch_size=4, partial_ft_epochs=1, scratch_epochs=1,
             scratch_warmup_epochs=0, timing_batch=2, timing_reps=1, recon_ratios=[0.75], n_recon=2,
             eval_batch_size=8, n_boot=50, num_workers=0, threads=1, log_every=1)

pytestmark = pytest.mark.usefixtures("one_thread")


def _check(ns, profile, tmp_path):
    arms = ns["arms"]
    assert all(a["val_loss"] == a["val_loss"] for a in arms.values())          # finite (not NaN)
    assert ns["ft"] and "scratch" in ns["ft"]
    res = results(tmp_path / "out", SLUG)
    assert res["profile"] == profile and res["claims"]
    return arms


def test_gpu_profile_on_fake_cifar10(tmp_path, monkeypatch):
    skip_cifar_md5(monkeypatch)
    data = write_cifar(tmp_path / "data", "cifar10", n=4)
    over = dict(SMALL, sampling_arms=["grid"], decoder_depth_arms=[1], decoder_width_arms=[64],
                aug_arms=["none"], schedule_epochs=[1], partial_ft_blocks=[0, 1],
                timing_model="mae_vit_base_patch16_dec512d8b", timing_img_size=32)
    ns = run_notebook_cells(SLUG, "gpu", tmp_path / "out", overrides=over, data_root=data)
    cfg = ns["cfg"]
    assert (cfg.dataset, cfg.model, cfg.mask_token_arm, cfg.loss_all_arm, cfg.scratch_ema) == \
        ("cifar10", "mae_vit_t_p4_32_dec128d4b", True, True, 0.999)
    arms = _check(ns, "gpu", tmp_path)
    assert len(ns["data"]["pre_ds"]) == 20 and set(ns["partial"]) == {0, 1}
    assert any(k.startswith("sampling_") for k in arms) and any(k.startswith("aug_") for k in arms)


def test_paper_profile_on_a_fake_imagenet_folder(tmp_path):
    data = write_imagefolder(tmp_path / "imagenet", classes=("n01440764", "n01443537"), n=4, size=(40, 40))
    over = dict(SMALL, image_size=32, num_classes=2, model="mae_vit_tiny_p4_32_dec64d2b", decoder_dim=64,
                decoder_depth=2, grad_accum=2, ft_grad_accum=2, scratch_grad_accum=2, sampling_arms=["grid"],
                decoder_depth_arms=[1], decoder_width_arms=[32], aug_arms=["none"],
                timing_model="mae_vit_tiny_p4_32_dec64d2b", timing_img_size=32)
    ns = run_notebook_cells(SLUG, "paper", tmp_path / "out", overrides=over, data_root=data)
    cfg = ns["cfg"]
    assert (cfg.dataset, cfg.lp_mode, cfg.lp_optimizer, cfg.norm_pix_arm, cfg.partial_ft_blocks) == \
        ("imagenet", "online", "lars", True, [1])
    _check(ns, "paper", tmp_path)
    assert set(ns["partial"]) == {1}

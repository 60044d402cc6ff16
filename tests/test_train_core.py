"""The trainer on tiny random SD3 and FLUX pipelines (CPU): it learns, the loss mask holds,
frozen parts stay bit-identical, and a resumed run continues exactly."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from tests.tiny_pipelines import save_tiny_sd3  # noqa: E402
from tests.train_fixtures import save_tiny_flux, tiny_train_config, write_bagel_parquet  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    root = tmp_path_factory.mktemp("train_core")
    return {"sd3": save_tiny_sd3(root / "sd3"), "flux": save_tiny_flux(root / "flux"),
            "t2i": write_bagel_parquet(root / "export8", count=8) / "t2i",
            "multi": write_bagel_parquet(root / "export_multi", count=4, multi_reference=4)}


def _backend(path, name, overrides=()):
    from echo4o_eval.training.backends import load_backend
    from echo4o_eval.training.config import load_train_config

    settings = load_train_config(None, [f"model.backend={name}", f"model.pretrained={path}",
                                        "model.max_text_tokens=16", *overrides]).model
    return load_backend(settings, "cpu", torch.float32)


def _probe_loss(backend, export, config):
    """Loss of the 8 images at fixed sigmas and noise (no randomness): comparable across weights."""
    from echo4o_eval.training.batches import fit_image, to_tensor
    from echo4o_eval.training.data import TrainingData
    from echo4o_eval.training.flow import masked_mse, noised

    data = TrainingData.from_settings(config.data)
    pixels = torch.stack([to_tensor(fit_image(data.load(i).target, 64, 64)) for i in range(len(data))])
    captions = [data.load(i).captions[0] for i in range(len(data))]
    generator = torch.Generator().manual_seed(123)
    with torch.no_grad():
        x0 = backend.encode_images(pixels)
        text = backend.encode_text(captions, "cpu")
        total = 0.0
        for sigma in (0.25, 0.5, 0.75):
            noise = torch.randn(x0.shape, generator=generator)
            sigmas = torch.full((len(data),), sigma)
            x_t, target = noised(x0, noise, sigmas)
            layout = backend.layout(x_t, [])
            prediction = backend.predict(backend.transformer, layout, sigmas, text)
            total += float(masked_mse(prediction, backend.layout(target, []).hidden, layout.mask).mean())
    return total / 3


@pytest.mark.parametrize("name", ["sd3", "flux"])
def test_overfitting_eight_images_lowers_the_loss_and_frozen_parts_stay_identical(assets, tmp_path, name):
    from echo4o_eval.training.trainer import train

    config = tiny_train_config(assets[name], [assets["t2i"]], tmp_path / "out", backend=name,
                               overrides=["run.max_steps=60", "optim.learning_rate=3e-3", "run.save_final=true",
                                          "loss.timestep_sampling=uniform"])
    before = _probe_loss(_backend(assets[name], name), assets["t2i"], config)
    result = train(config)
    trained = _backend(result.final_pipeline, name)
    after = _probe_loss(trained, assets["t2i"], config)
    print(f"{name}: probe loss {before:.4f} -> {after:.4f} (ratio {after / before:.3f})")
    assert after < 0.7 * before
    original = _backend(assets[name], name)
    frozen = [("vae", original.vae, trained.vae)]
    frozen += [(n, m, trained.text_encoders()[n]) for n, m in original.text_encoders().items()]
    for component, a, b in frozen:
        for (key, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
            assert torch.equal(x, y), f"{component}.{key} changed"
    changed = [k for k, v in original.transformer.state_dict().items()
               if not torch.equal(v, trained.transformer.state_dict()[k])]
    assert len(changed) > 10  # the transformer itself did learn


@pytest.mark.parametrize("name", ["sd3", "flux"])
def test_reference_positions_get_zero_gradient(assets, tmp_path, name):
    from echo4o_eval.training.batches import BatchPlan
    from echo4o_eval.training.data import TrainingData
    from echo4o_eval.training.steps import PlannedBatches, compute_loss

    config = tiny_train_config(assets[name], [assets["multi"] / "multi_reference"], tmp_path / "o", backend=name,
                               overrides=["run.batch_size=2"])
    backend = _backend(assets[name], name)
    data = TrainingData.from_settings(config.data)
    plan = BatchPlan([(64, 64, 2)] * len(data), 2, 0)
    batch = PlannedBatches(data, plan, rank=0, per_process=2, settings=config.data, seed=0)[0]
    assert len(batch["references"]) == 2
    loss, prediction, layout = compute_loss(backend, backend.transformer, batch, config, "cpu")
    prediction.retain_grad()
    loss.backward()
    grad = prediction.grad
    reference = (layout.mask == 0).expand_as(grad)
    assert reference.sum() == 2 * (grad.numel() // 3)  # two of the three images are references
    assert torch.count_nonzero(grad[reference]) == 0
    assert torch.count_nonzero(grad[~reference]) == (~reference).sum()  # every output position has a gradient
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in backend.transformer.parameters())


def test_resume_continues_exactly(assets, tmp_path):
    from echo4o_eval.training.monitor import read_log
    from echo4o_eval.training.trainer import train

    settings = ["optim.ema_decay=0.9", "optim.warmup_steps=2", "optim.schedule=cosine", "run.save_every=3",
                "run.batch_size=2", "optim.learning_rate=1e-3", "data.caption_dropout=0.3"]
    straight = train(tiny_train_config(assets["sd3"], [assets["t2i"]], tmp_path / "a", overrides=[*settings, "run.max_steps=6"]))
    first = train(tiny_train_config(assets["sd3"], [assets["t2i"]], tmp_path / "b", overrides=[*settings, "run.max_steps=6", "run.stop_at=3"]))
    resumed = train(tiny_train_config(assets["sd3"], [assets["t2i"]], tmp_path / "b", overrides=[*settings, "run.max_steps=6"]))
    assert (first.final_step, resumed.start_step, resumed.final_step) == (3, 3, 6)
    assert straight.losses[:3] == first.losses
    assert straight.losses[3:] == resumed.losses  # bit-equal, not approximately
    log = read_log(tmp_path / "b" / "train_log.jsonl")
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5, 6]
    from safetensors.torch import load_file

    a = load_file(tmp_path / "a" / "checkpoints" / "step-0000006" / "model.safetensors")
    b = load_file(tmp_path / "b" / "checkpoints" / "step-0000006" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_cached_latents_and_text_give_the_losses_of_an_uncached_run(assets, tmp_path):
    from echo4o_eval.training.trainer import train

    settings = ["run.max_steps=3", "run.batch_size=2", "data.caption_dropout=0.5", "optim.learning_rate=1e-3"]
    plain = train(tiny_train_config(assets["flux"], [assets["multi"]], tmp_path / "plain", backend="flux", overrides=settings))
    cached = train(tiny_train_config(assets["flux"], [assets["multi"]], tmp_path / "cached", backend="flux",
                                     overrides=[*settings, "data.cache_latents=true", "data.cache_text=true"]))
    assert list((tmp_path / "cached" / "cache").rglob("latents/*.pt")) and list((tmp_path / "cached" / "cache").rglob("text/empty.pt"))
    assert cached.losses == pytest.approx(plain.losses, rel=1e-5)


def test_lora_trains_adapters_only_and_saves_them(assets, tmp_path):
    from safetensors.torch import load_file

    from echo4o_eval.training.trainer import train

    result = train(tiny_train_config(assets["sd3"], [assets["t2i"]], tmp_path / "lora", overrides=[
        "run.max_steps=3", "model.lora_rank=4", "optim.learning_rate=1e-2", "run.save_final=true"]))
    saved = list((result.final_pipeline / "lora").glob("*.safetensors"))
    assert saved, "no LoRA adapter file"
    weights = load_file(saved[0])
    assert weights and all("lora" in key for key in weights)
    assert any(float(v.abs().sum()) > 0 for k, v in weights.items() if "lora_B" in k)  # B starts at 0: it learned

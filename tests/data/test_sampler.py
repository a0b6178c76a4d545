"""The training shuffle depends only on (data.seed, epoch), so resumed runs see the same batches."""

from brain_ai.data.datamodule import EpochShuffleSampler


def test_same_seed_and_epoch_give_the_same_order():
    a, b = EpochShuffleSampler(50, seed=3), EpochShuffleSampler(50, seed=3)
    a.set_epoch(4)
    b.set_epoch(4)
    assert list(a) == list(b)
    assert sorted(a) == list(range(50))


def test_epoch_and_seed_change_the_order():
    s = EpochShuffleSampler(50, seed=3)
    first = list(s)
    s.set_epoch(1)
    assert list(s) != first
    assert list(EpochShuffleSampler(50, seed=4)) != first


def test_datamodule_train_loader_uses_the_epoch_sampler():
    from brain_ai.config import DataConfig
    from brain_ai.data import build_datamodule

    dm = build_datamodule(DataConfig(name="synthetic", num_samples=200, n_time_bins=5, batch_size=16))
    dm.setup()
    loader = dm.train_dataloader()
    assert isinstance(loader.sampler, EpochShuffleSampler)
    loader.sampler.set_epoch(2)
    first = [y.tolist() for _, y in loader]
    loader.sampler.set_epoch(2)
    assert [y.tolist() for _, y in loader] == first

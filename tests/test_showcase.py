"""The showcase the demo runs: schema, honesty of its sentence, reproducibility."""

import json

import pytest

from transfer_keras import showcase
from transfer_keras.showcase import SHOWCASE_METHODS, ShowcaseResult, run_showcase


def _result(**accuracies):
    results = [{"method": m, "accuracy_mean": accuracies.get(m, 0.5), "accuracy_std": 0.01,
                "seeds": [0, 1, 2], "seconds": 1.0} for m in SHOWCASE_METHODS]
    return ShowcaseResult({"test_images": 153}, results, [], [], 1.0)


def test_the_closing_sentence_is_computed_from_the_numbers():
    winning = _result(majority=0.46, pixels_logistic=0.59, scratch=0.69, probe=0.80,
                      frozen=0.81, fine_tuned=0.82)
    assert "above every baseline" in winning.conclusion()
    losing = _result(majority=0.46, pixels_logistic=0.59, scratch=0.69, probe=0.83,
                     frozen=0.81, fine_tuned=0.82)
    assert "above every baseline" not in losing.conclusion()
    assert "not above probe (0.830)" in losing.conclusion()
    assert losing.accuracy("probe") == 0.83
    with pytest.raises(KeyError, match="choose one of"):
        losing.accuracy("magic")


@pytest.mark.parametrize("kwargs, match", [
    ({"seeds": ()}, "`seeds`"),
    ({"seeds": (0, 0)}, "`seeds`"),
    ({"image_size": 16}, "`image_size`"),
    ({"labels_per_class": (0,)}, "`labels_per_class`"),
    ({"labels_per_class": (40,)}, "`labels_per_class`"),
    ({"workers": 0}, "`workers`"),
    ({"scratch_learning_rates": ()}, "`scratch_learning_rates`"),
])
def test_bad_arguments_are_refused_before_any_work(kwargs, match, monkeypatch):
    monkeypatch.setattr(showcase, "_kit", lambda size: pytest.fail("loaded data"))
    with pytest.raises(ValueError, match=match):
        run_showcase(**kwargs)


@pytest.mark.slow
def test_same_seeds_same_numbers_with_any_number_of_workers():
    """A tiny budget (32 px, one seed, no curve point): once in this process, once
    over two worker processes; every run's accuracy must be identical."""
    kwargs = dict(image_size=32, seeds=(0,), labels_per_class=(), verbose=False)
    here = run_showcase(workers=1, **kwargs)
    spread = run_showcase(workers=2, **kwargs)
    assert [r["method"] for r in here.results] == list(SHOWCASE_METHODS)
    for row in here.results:
        assert set(row) == {"method", "accuracy_mean", "accuracy_std", "seeds", "seconds"}
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in here.runs]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in spread.runs]
    json.dumps(here.to_dict())  # report.json material
    assert here.evaluation.accuracy == pytest.approx(here.runs[-1]["accuracy"], abs=1e-4)

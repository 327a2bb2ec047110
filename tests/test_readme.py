"""The README's showcase figures and the sentences that compare them, checked
against the run they come from (`benchmarks/showcase.json`): a re-run that
moves a number or flips a comparison fails here instead of contradicting the text."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
SHOWCASE = json.loads((ROOT / "benchmarks" / "showcase.json").read_text())
MEANS = {row["method"]: (row["accuracy_mean"], row["accuracy_std"])
         for row in SHOWCASE["results"]}
ROWS = {  # README table row -> method in showcase.json
    "always the majority class": "majority",
    "logistic regression on 32x32 pixels": "pixels_logistic",
    "small CNN from scratch (learning rate chosen on validation)": "scratch",
    "linear probe on frozen ImageNet features": "probe",
    "frozen backbone + new head (stage 1)": "frozen",
    "two-stage recipe (stages 5-7 fine-tuned: the demo's recipe)": "fine_tuned",
    'the ImageNet head alone, choosing "ant" or "bee" (no training on the kit)': "imagenet_head",
}


def _seeds(method):
    return {run["seed"]: run["accuracy"] for run in SHOWCASE["runs"]
            if run["method"] == method and run["labels_per_class"] == "all"}


@pytest.mark.parametrize("row, method", ROWS.items())
def test_showcase_table_matches_the_run(row, method):
    match = re.search(rf"\| {re.escape(row)} \| \**([0-9.]+)(?: ± ([0-9.]+))?\**", README)
    assert match, row
    mean, std = MEANS[method]
    assert abs(float(match.group(1)) - mean) <= 0.0005 + 1e-9
    if match.group(2):
        assert abs(float(match.group(2)) - std) <= 0.0005 + 1e-9


def test_showcase_sentences_match_the_run():
    text = " ".join(README.split())
    best_without = max(MEANS[m][0] for m in ("majority", "pixels_logistic", "scratch"))
    assert "Transfer beats every baseline without ImageNet features" in text
    assert min(MEANS["frozen"][0], MEANS["fine_tuned"][0]) > best_without

    frozen, tuned = _seeds("frozen"), _seeds("fine_tuned")
    above = sum(tuned[s] > frozen[s] for s in frozen)
    below = sum(tuned[s] < frozen[s] for s in frozen)
    same = len(frozen) - above - below
    assert (f"scores above stage 1 on {above} of {len(frozen)} seeds, below on {below} and "
            f"the same on {same}") in text
    assert "Fine-tuning adds nothing measurable over the frozen backbone" in text
    assert abs(MEANS["fine_tuned"][0] - MEANS["frozen"][0]) < max(
        MEANS["fine_tuned"][1], MEANS["frozen"][1])

    probe = MEANS["probe"][0]
    at_or_above = sum(accuracy >= probe for accuracy in tuned.values())
    assert "Both transferred models are a little above the linear probe" in text
    assert min(MEANS["frozen"][0], MEANS["fine_tuned"][0]) > probe
    assert (f"(the fine-tuned model at or above it on {at_or_above} of {len(tuned)} seeds)"
            in text)

    head = MEANS["imagenet_head"][0]
    best_trained = max(MEANS[m][0] for m in ("frozen", "fine_tuned", "probe", "scratch"))
    gap = head - best_trained
    assert f"is ahead of every trained model by {gap:.2f} (about {round(gap * 153)} of" in text
    assert all(head > MEANS[m][0] + MEANS[m][1] for m in ("frozen", "fine_tuned"))


def _behind(means):
    """'0.10-0.18' (or '0.12'): how far scratch is behind the two transfer methods."""
    low, high = sorted(f"{means[m] - means['scratch']:.2f}" for m in ("frozen", "fine_tuned"))
    return low if low == high else f"{low}-{high}"


def test_scratch_gaps_match_the_run():
    text = " ".join(README.split())
    at_all = _behind({method: mean for method, (mean, _) in MEANS.items()})
    at_20 = _behind({row["method"]: row["mean"] for row in SHOWCASE["curve"]
                     if row["labels_per_class"] == 20})
    assert (f"training from scratch is {at_all} behind with all 183 photos and {at_20} "
            f"behind with 20 per class") in text

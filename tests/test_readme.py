"""The README and the pages in docs/, checked against what they describe.

The README is a newcomer's page: short, with the two commands CI runs, recipes
that call the library as it is, and a module map that names every module. The
numbers it and the docs pages quote (README's headline table, `docs/results.md`)
are checked against the runs they come from (`benchmarks/*.json`): a re-run that
moves a number or flips a comparison fails here instead of contradicting the text."""

import ast
import inspect
import json
import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
DOCS = ROOT / "docs"
PAGES = {path.name: path.read_text() for path in sorted(DOCS.glob("*.md"))}
RESULTS = PAGES["results.md"]
SHOWCASE = json.loads((ROOT / "benchmarks" / "showcase.json").read_text())
MEANS = {row["method"]: (row["accuracy_mean"], row["accuracy_std"])
         for row in SHOWCASE["results"]}
ROWS = {  # showcase table row (README headline, docs/results.md) -> method in showcase.json
    "always the majority class": "majority",
    "logistic regression on 32x32 pixels": "pixels_logistic",
    "small CNN from scratch (learning rate chosen on validation)": "scratch",
    "linear probe on frozen ImageNet features": "probe",
    "frozen backbone + new head (stage 1)": "frozen",
    "two-stage recipe (stages 5-7 fine-tuned: the demo's recipe)": "fine_tuned",
    'the ImageNet head alone, choosing "ant" or "bee" (no training on the kit)': "imagenet_head",
}
COMMANDS = (  # CI (.ci/run) and this file depend on them: keep them exactly
    "bash .ci/setup && .venv/bin/transfer-keras demo          # 1. the main job: the end-to-end demo",
    "bash .ci/setup && .venv/bin/python -m pytest              # 2. the tests, notebooks included",
)


def _flat(text):
    return " ".join(text.split())


# --- The README's shape ---------------------------------------------------------------

def test_readme_is_a_short_page():
    lines = README.splitlines()
    assert len(lines) <= 210, f"README.md has {len(lines)} lines; move detail to docs/"


def test_readme_holds_the_two_commands_ci_runs():
    lines = README.splitlines()
    for command in COMMANDS:
        assert command in lines, command
    assert ".venv/bin/python -m pytest" in (ROOT / ".ci" / "run").read_text()


def test_every_docs_page_is_linked_and_has_a_title_and_an_intro():
    assert {"offline_weights.md", "scale_and_workers.md", "reliability.md",
            "results.md"} <= set(PAGES)
    for name, text in PAGES.items():
        assert f"](docs/{name})" in README, f"README does not link docs/{name}"
        title, blank, intro = text.splitlines()[:3]
        assert title.startswith("# ") and not blank and intro, name


def _anchors(path):
    """GitHub's anchors for the headings of a Markdown file."""
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    headings = re.findall(r"^#+ (.+)$", text, flags=re.M)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


@pytest.mark.parametrize("name", ["README.md", *(f"docs/{name}" for name in PAGES)])
def test_relative_links_point_at_files_and_headings(name):
    page = ROOT / name
    for target, anchor in re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]*))?\)", page.read_text()):
        if "://" in target:
            continue
        path = page.parent / target if target else page
        assert path.exists(), (name, target)
        if anchor and path.suffix == ".md":
            assert anchor in _anchors(path), (name, target, anchor)


def test_module_map_names_every_module():
    """Each module of the package has a line in README's module map (a package: `name/`)."""
    mapped = set(re.findall(r"^\| `([\w/.]+)` \|", README, flags=re.M))
    package = ROOT / "transfer_keras"
    names = {path.name for path in package.glob("*.py")}
    names |= {f"data/{path.name}" for path in package.glob("data/*.py")} - {"data/__init__.py"}
    names |= {f"{path.parent.name}/" for path in package.glob("*/__init__.py")} - {"data/"}
    for name in sorted(names):
        assert name in mapped or name.replace(".py", "/") in mapped, name
    stale = [row for row in mapped if row not in names]  # a row for a module that is gone
    assert stale == [], stale


# --- Recipes call the library as it is -------------------------------------------------

def _recipes():
    """(page, code) for every python block and every inline code span using `tk.`."""
    for name, text in [("README.md", README), *((f"docs/{n}", t) for n, t in PAGES.items())]:
        for block in re.findall(r"```python\n(.*?)```", text, flags=re.S):
            yield name, block
        for span in re.findall(r"`([^`\n]*\btk\.[^`\n]*)`", text):
            try:
                ast.parse(span)
            except SyntaxError:
                continue  # not code, e.g. `tk.kit`
            yield name, span


def _callee(node, namespace):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in namespace:
        return None
    target = namespace[node.id]
    for part in reversed(parts):
        target = getattr(target, part)
    return target


@pytest.mark.parametrize("page, code", list(_recipes()))
def test_recipes_call_the_library_with_arguments_it_takes(page, code):
    """Every `tk.…` / `plots.…` call of a recipe names a function that exists and binds to
    its signature (too many positional arguments or an unknown keyword fail here)."""
    import transfer_keras as tk
    from transfer_keras import plots

    namespace = {"tk": tk, "plots": plots}
    tree = ast.parse(code)
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
    for call in calls:
        function = _callee(call.func, namespace)
        if function is None or not callable(function):
            continue
        if any(isinstance(arg, ast.Starred) for arg in call.args):
            continue
        keywords = {kw.arg: None for kw in call.keywords if kw.arg is not None}
        try:
            inspect.signature(function).bind(*[None] * len(call.args), **keywords)
        except TypeError as error:
            pytest.fail(f"{page}: {ast.unparse(call)}: {error}")


# --- The numbers -----------------------------------------------------------------------

def _seeds(method):
    return {run["seed"]: run["accuracy"] for run in SHOWCASE["runs"]
            if run["method"] == method and run["labels_per_class"] == "all"}


@pytest.mark.parametrize("page", ["README.md", "docs/results.md"])
@pytest.mark.parametrize("row, method", ROWS.items())
def test_showcase_table_matches_the_run(page, row, method):
    text = (ROOT / page).read_text()
    match = re.search(rf"\| {re.escape(row)} \| \**([0-9.]+)(?: ± ([0-9.]+))?\**", text)
    assert match, (page, row)
    mean, std = MEANS[method]
    assert abs(float(match.group(1)) - mean) <= 0.0005 + 1e-9
    if match.group(2):
        assert abs(float(match.group(2)) - std) <= 0.0005 + 1e-9


def test_readme_headline_sentences_match_the_run():
    text = _flat(README)
    best_without = max(MEANS[m][0] for m in ("majority", "pixels_logistic", "scratch"))
    assert "Transfer beats every baseline without ImageNet features" in text
    assert min(MEANS["frozen"][0], MEANS["fine_tuned"][0]) > best_without
    assert "Fine-tuning adds nothing measurable over the frozen backbone" in text
    assert abs(MEANS["fine_tuned"][0] - MEANS["frozen"][0]) < max(
        MEANS["fine_tuned"][1], MEANS["frozen"][1])
    assert "kit, is ahead of every trained model" in text
    head = MEANS["imagenet_head"][0]
    assert all(head > MEANS[m][0] for m in ("frozen", "fine_tuned", "probe", "scratch"))
    weather = _minus_frozen("weather", "default")
    assert "On 4 classes ImageNet has no names for, fine-tuning pays on almost every seed" in text
    assert (weather > 0).sum() >= weather.size - 1 and weather.mean() > 0


def test_showcase_sentences_match_the_run():
    text = _flat(RESULTS)
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
    text = _flat(RESULTS)
    at_all = _behind({method: mean for method, (mean, _) in MEANS.items()})
    at_20 = _behind({row["method"]: row["mean"] for row in SHOWCASE["curve"]
                     if row["labels_per_class"] == 20})
    assert (f"training from scratch is {at_all} behind with all 183 photos and {at_20} "
            f"behind with 20 per class") in text


FINE_TUNING = json.loads((ROOT / "benchmarks" / "fine_tuning.json").read_text())
FT_ROWS = {(row["task"], row["method"]): row for row in FINE_TUNING["rows"]}
FT_METHODS = ("frozen", "two_stage_today", "two_stage_range_test", "top_third",
              "discriminative", "gradual", "rounded_1e-4", "default")


@pytest.mark.parametrize("method", FT_METHODS)
def test_fine_tuning_table_matches_the_run(method):
    """docs/results.md's recipe table: kit and weather test accuracy, mean ± std over 5 seeds."""
    match = re.search(rf"\| `{re.escape(method)}`[^|]*\| \**([0-9.]+) ± ([0-9.]+)\** \| "
                      rf"\**([0-9.]+) ± ([0-9.]+)\** \|", RESULTS)
    assert match, method
    for offset, task in ((1, "kit"), (3, "weather")):
        row = FT_ROWS[(task, method)]
        assert abs(float(match.group(offset)) - row["mean"]) <= 0.0005 + 1e-9, (task, method)
        assert abs(float(match.group(offset + 1)) - row["std"]) <= 0.0005 + 1e-9, (task, method)


def _minus_frozen(task, method):
    return np.array(FINE_TUNING["minus_frozen"][task][method])


def test_fine_tuning_sentences_match_the_run():
    text = _flat(RESULTS)
    weather, kit = _minus_frozen("weather", "default"), _minus_frozen("kit", "default")
    assert (f"on the weather photos above on {(weather > 0).sum()} of {weather.size} seeds "
            f"(+{weather.mean():.3f} on average)") in text
    assert (f"on the kit above on {(kit > 0).sum()} of {kit.size} and equal on "
            f"{(kit == 0).sum()} (+{kit.mean():.3f})") in text
    rounded = _minus_frozen("kit", "rounded_1e-4")
    assert "the same recipe at 1e-4 equals `frozen` on all 5 seeds" in text
    assert rounded.size == 5 and not rounded.any()
    by = {(run["method"], run["seed"]): run["accuracy"] for run in FINE_TUNING["runs"]
          if run["task"] == "kit"}
    moved = max(abs(by[("default", s)] - by[("two_stage_range_test", s)]) for s in range(5))
    assert f"single seeds move by up to {moved:.3f}" in text
    curve = {(row["labels_per_class"], row["method"]): row["mean"] for row in SHOWCASE["curve"]}
    gap = max(abs(curve[(n, "fine_tuned")] - curve[(n, "frozen")]) for n, _ in curve)
    assert "fine-tuning stays within 0.007 of the frozen backbone" in text and gap <= 0.007
    capped = sum(run["epochs"] >= 10 for run in FINE_TUNING["runs"]
                 if run["task"] == "kit" and run["method"] == "two_stage_today")
    assert f"stage 2 hit its 10-epoch cap on {capped} of 5 seeds" in text
    claim = ("Measured, none of them scores above the whole backbone at the range test's "
             "rate on either task")
    assert claim in text and claim in _flat(PAGES["library.md"])
    for task in ("kit", "weather"):
        others = ("discriminative", "gradual", "top_third")
        best = FT_ROWS[(task, "two_stage_range_test")]["mean"]
        assert all(FT_ROWS[(task, m)]["mean"] < best for m in others), task


MOBILENET = json.loads((ROOT / "benchmarks" / "defaults_mobilenet.json").read_text())


def test_the_mobilenet_rates_match_their_run():
    text = _flat(RESULTS)
    rows = {row["method"]: row for row in MOBILENET["rows"]}
    fast, slow, frozen = rows["at_9.25e-5"], rows["at_3e-5"], rows["frozen"]
    assert (f"scored {fast['mean']:.3f} ± {fast['std']:.3f} against {slow['mean']:.3f} ± "
            f"{slow['std']:.3f} at 3e-5 and {frozen['mean']:.3f} ± {frozen['std']:.3f} frozen") in text
    assert fast["mean"] < min(slow["mean"], frozen["mean"])
    below = np.array(MOBILENET["paired"]["at_9.25e-5 - frozen"])
    assert (below < 0).sum() == 3 and (below > 0).sum() == 0
    longer = rows["at_3e-5_20_epochs"]
    assert f"twice the epochs at 3e-5, {longer['mean']:.3f} ± {longer['std']:.3f}, add nothing" in text
    assert abs(longer["mean"] - slow["mean"]) < min(longer["std"], slow["std"])

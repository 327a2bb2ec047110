"""The course's own rules, checked on the notebooks' files (issue 31).

- Every markdown cell that compares ("beats", "above", "faster", ...) is followed,
  before the next markdown cell, by a code cell that asserts: a re-run that flips a
  result fails instead of contradicting the text.
- The prose stays at least 25% shorter than the first edition's.
- One running example: Fashion-MNIST appears only in the weak-transfer case study.
- Each notebook ends with a Summary, Exercises and a self-check that was run.
- Notebooks are committed with the outputs of a complete run.
- The README's and docs/course.md's course tables list exactly the notebooks there are.
"""

import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_PATHS = sorted((ROOT / "notebooks").glob("*.ipynb"))
NOTEBOOKS = {path.name: json.loads(path.read_text()) for path in NOTEBOOK_PATHS}
COMPARISON = re.compile(r"\b(beat|beats|beaten|beating|outperforms?|above|below|faster|slower|"
                        r"better|worse|higher|lower)\b", flags=re.IGNORECASE)
FASHION = re.compile(r"load_fashion_mnist|project_source_backbone|split_classes")
WEAK_TRANSFER = "05_weak_transfer_and_choosing.ipynb"


def _source(cell):
    return "".join(cell["source"])


def _prose_script():
    spec = importlib.util.spec_from_file_location(
        "course_prose", ROOT / "benchmarks" / "course_prose.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def comparisons_without_assert(cells):
    """The comparison words of markdown cells not followed by an asserting code cell.

    Returns `[(cell index, word), ...]`: for each markdown cell with a comparison
    word, unless a code cell containing `assert` comes before the next markdown cell.
    """
    missing = []
    for index, cell in enumerate(cells):
        if cell["cell_type"] != "markdown":
            continue
        found = COMPARISON.search(_source(cell))
        if not found:
            continue
        following = []
        for later in cells[index + 1:]:
            if later["cell_type"] == "markdown":
                break
            following.append(later)
        if not any(re.search(r"^\s*assert\b", _source(c), flags=re.MULTILINE) for c in following):
            missing.append((index, found.group(0)))
    return missing


def test_comparison_check_catches_an_unasserted_claim():
    def markdown(text):
        return {"cell_type": "markdown", "source": [text]}

    def code(text):
        return {"cell_type": "code", "source": [text]}

    claim = markdown("The frozen model beats the probe.")
    assert comparisons_without_assert([claim, code("print(1)")]) == [(0, "beats")]
    assert comparisons_without_assert([claim, markdown("next"), code("assert x")]) == [(0, "beats")]
    assert comparisons_without_assert([claim, code("print(1)"), code("assert a > b")]) == []
    assert comparisons_without_assert([markdown("No ranking here."), code("print(1)")]) == []


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_every_comparison_is_followed_by_an_assert(name):
    missing = comparisons_without_assert(NOTEBOOKS[name]["cells"])
    assert not missing, (
        f"{name}: markdown cells {missing} compare (cell index, word) but no code cell with "
        "an assert follows before the next markdown cell; add the assert or reword")


def test_prose_is_at_least_a_quarter_shorter_than_the_first_edition():
    prose = _prose_script()
    total = sum(prose.course_words().values())
    first_edition = min(prose.FIRST_EDITION_WORDS, prose.ISSUE_COUNT_OF_FIRST_EDITION)
    assert total <= 0.75 * first_edition, (
        f"{total} words of prose; at most {0.75 * first_edition:.0f} (75% of {first_edition})")


def test_prose_count_skips_code_blocks(tmp_path):
    notebook = {"cells": [
        {"cell_type": "markdown", "source": ["Two words\n", "```python\nx = 1 + 2\n```\n"]},
        {"cell_type": "code", "source": ["not counted at all"]},
        {"cell_type": "markdown", "source": ["three more words"]}]}
    path = tmp_path / "n.ipynb"
    path.write_text(json.dumps(notebook))
    assert _prose_script().prose_words(path) == 5


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_fashion_mnist_only_in_the_weak_transfer_case_study(name):
    if name == WEAK_TRANSFER:
        pytest.skip("the case study is where Fashion-MNIST belongs")
    for index, cell in enumerate(NOTEBOOKS[name]["cells"]):
        if cell["cell_type"] != "code":  # prose may point to the case study
            continue
        found = FASHION.search(_source(cell))
        assert not found, f"{name} cell {index} mentions {found.group(0)!r}"


def test_the_weak_transfer_case_study_exists():
    assert WEAK_TRANSFER in NOTEBOOKS
    assert any("load_fashion_mnist" in _source(cell) for cell in NOTEBOOKS[WEAK_TRANSFER]["cells"])


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_summary_exercises_and_a_self_check_that_ran(name):
    cells = NOTEBOOKS[name]["cells"]
    headings = [line.strip() for cell in cells if cell["cell_type"] == "markdown"
                for line in _source(cell).splitlines() if line.startswith("## ")]
    assert "## Summary" in headings and "## Exercises" in headings, headings
    last = [cell for cell in cells if cell["cell_type"] == "code"][-1]
    printed = "".join("".join(output.get("text", "")) for output in last.get("outputs", []))
    assert "Fill in" in printed, f"{name}: the last code cell should be the self-check, run"


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_committed_with_the_outputs_of_one_complete_run(name):
    counts = [cell.get("execution_count") for cell in NOTEBOOKS[name]["cells"]
              if cell["cell_type"] == "code"]
    assert None not in counts, f"{name}: some code cells were never run"
    assert counts == list(range(1, len(counts) + 1)), f"{name}: not one top-to-bottom run"
    for cell in NOTEBOOKS[name]["cells"]:
        for output in cell.get("outputs", []):
            assert output.get("output_type") != "error", f"{name}: an error output"
            assert output.get("name") != "stderr", f"{name}: stderr output: {output.get('text')}"


@pytest.mark.parametrize("page", ["README.md", "docs/course.md"])
def test_course_tables_list_every_notebook(page):
    text = (ROOT / page).read_text()
    listed = set(re.findall(r"notebooks/(\d\d_[a-z_]+\.ipynb)", text))
    assert listed == set(NOTEBOOKS), f"{page}: listed {sorted(listed)}, present {sorted(NOTEBOOKS)}"

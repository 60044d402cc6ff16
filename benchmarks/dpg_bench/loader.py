"""Load DPG-Bench: prompts from ``prompts/<item_id>.txt`` and questions from ``dpg_bench.csv``.

Each Sample carries its questions in CSV order in ``metadata["questions"]``; every question
keeps its 0-based ``csv_row`` so the parity evaluator can reproduce the official script's
skipping of the first data row, and ``metadata["official_dtype_quirks"]`` says how pandas
would have typed the CSV in the official script (see :func:`official_dtype_quirks`).

Example:
    >>> from echo4o_eval.spec import get_benchmark
    >>> from echo4o_eval.assets import Assets
    >>> s = load_samples(Assets(get_benchmark("dpg_bench")))  # doctest: +SKIP
    >>> s[0].metadata["questions"][0]["question"]  # doctest: +SKIP
    'Is there a lighthouse?'
"""

from __future__ import annotations

from collections import defaultdict

from echo4o_eval.assets import numeric_name_key
from echo4o_eval.loading import BenchmarkFileError, read_csv_rows
from echo4o_eval.records.types import Sample

COLUMNS = (
    "item_id",
    "text",
    "keywords",
    "proposition_id",
    "dependency",
    "category_broad",
    "category_detailed",
    "tuple",
    "question_natural_language",
)


def parse_dependency(text: str, path, row: int) -> list[int]:
    """``"1,2"`` -> ``[1, 2]``; ``"0"`` means no parent."""
    try:
        return [int(part) for part in str(text).split(",") if part.strip()]
    except ValueError as exc:
        raise BenchmarkFileError(f"{path}: data row {row + 1}: bad dependency {text!r}") from exc


def _all_integers(values) -> bool:
    values = [str(v).strip() for v in values]
    return bool(values) and all(v.lstrip("+-").isdigit() for v in values)


def official_dtype_quirks(path) -> dict[str, bool]:
    """How pandas would type two CSV columns in the official script (its parity quirks).

    ``item_id_integer``: every item id is a number, so pandas reads the column as integers and
    the official script finds no questions for any image file name. ``dependency_integer``: no
    dependency lists a second parent, so pandas reads integers and the official
    ``dependency.split(',')`` crashes the whole run.
    """
    rows = read_csv_rows(path, COLUMNS)
    return {
        "item_id_integer": _all_integers(r["item_id"] for r in rows),
        "dependency_integer": _all_integers(r["dependency"] for r in rows),
    }


def load_questions(path) -> dict[str, list[dict]]:
    """Questions per item id, in CSV order."""
    questions: dict[str, list[dict]] = defaultdict(list)
    for row_index, row in enumerate(read_csv_rows(path, COLUMNS)):
        try:
            proposition = int(row["proposition_id"])
        except ValueError as exc:
            raise BenchmarkFileError(
                f"{path}: data row {row_index + 1}: bad proposition_id {row['proposition_id']!r}"
            ) from exc
        questions[row["item_id"]].append(
            {
                "proposition_id": proposition,
                "dependency": parse_dependency(row["dependency"], path, row_index),
                "category_broad": row["category_broad"],
                "category_detailed": row["category_detailed"],
                "tuple": row["tuple"],
                "question": row["question_natural_language"],
                "text": row["text"],
                "csv_row": row_index,
            }
        )
    return questions


def load_samples(assets, variant: str | None = None) -> list[Sample]:
    """Samples of DPG-Bench, one per prompt file, with their questions attached."""
    if variant not in (None, "default"):
        raise ValueError(f"dpg_bench has no variant {variant!r}")
    prompt_dir = assets.path("prompts")
    csv_path = assets.path("questions")
    questions = load_questions(csv_path)
    quirks = official_dtype_quirks(csv_path)
    files = sorted(prompt_dir.glob("*.txt"), key=numeric_name_key)
    if not files:
        raise BenchmarkFileError(f"{prompt_dir}: no prompt files")
    samples = []
    for index, path in enumerate(files):
        item_id = path.stem
        prompt = path.read_text(encoding="utf-8").strip()
        samples.append(
            Sample(
                id=item_id,
                index=index,
                prompt=prompt,
                tag="dpg",
                metadata={"questions": questions.get(item_id, []), "official_dtype_quirks": quirks},
            )
        )
    return samples

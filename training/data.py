"""Training samples from the data_gen exports and from any Hugging Face image-caption dataset.

Every source answers ``len``, ``size(i)`` (target width, height), ``reference_count(i)`` and
``load(i)`` -> :class:`RawSample` (target image, reference images, caption alternatives).

Formats (``data.format``; ``auto`` picks by what the path holds):

* ``bagel``: Bagel/Echo-4o parquet. Text-to-image rows: ``image`` (encoded bytes) and
  ``captions`` (a JSON string of alternatives, a mapping or a list). Multi-reference rows:
  ``image_list`` (references first, target last) and ``instruction_list`` (``[[instruction,
  alternative, ...]]``; the last inner list leads to the target).
* ``omnigen2``: jsonl lines with ``task_type``, ``instruction`` (text or list of alternatives),
  ``output_image`` and ``input_images`` (paths, relative to the jsonl's folder when not absolute).
* ``hf_folder`` (``datasets.save_to_disk``) and ``hf`` (``hf:NAME`` for ``load_dataset``): an
  image column, a caption column (text, list or JSON alternatives; data_gen's ``original_prompt``
  joins ``prompt`` as an alternative) and optionally a reference column (``references``,
  ``input_images``).

A sample that cannot be read is a :class:`DataError` naming the file, row and problem.

Example:
    >>> caption_alternatives('{"original": "a cat", "rewritten": "a grey cat"}')
    ('a cat', 'a grey cat')
    >>> caption_alternatives("a dog"), caption_alternatives(["x", "y"])
    (('a dog',), ('x', 'y'))
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

__all__ = ["DataError", "RawSample", "caption_alternatives", "open_source", "TrainingData"]

CAPTION_COLUMNS = ("captions", "caption", "text", "prompt", "instruction")
ALTERNATIVE_COLUMNS = ("original_prompt",)  # data_gen's HF export: the prompt before rewriting
REFERENCE_COLUMNS = ("input_images", "reference_images", "references")


class DataError(ValueError):
    """A training sample or source that cannot be used; the message names where and why."""


@dataclass
class RawSample:
    """One decoded sample: the output image, its references (maybe none), caption alternatives,
    and the sample's ``id`` when the source has one (data_gen's exports do), for tracing."""

    target: Any  # PIL.Image (RGB)
    references: list[Any]
    captions: tuple[str, ...]
    id: str | None = None


def caption_alternatives(value: Any) -> tuple[str, ...]:
    """Caption alternatives from text, a list, a mapping or a JSON string of a list/mapping."""
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in "[{":
            try:
                return caption_alternatives(json.loads(text))
            except json.JSONDecodeError:
                pass
        return (value,) if text else ()
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        found: list[str] = []
        for item in value:
            found.extend(caption_alternatives(item))
        return tuple(found)
    return ()


def _rgb(data: Any, where: str):
    """A PIL RGB image from bytes, a path, a PIL image or a datasets image dict."""
    from PIL import Image

    try:
        if isinstance(data, dict):
            data = data.get("bytes") or data.get("path")
        if isinstance(data, (bytes, bytearray)):
            image = Image.open(io.BytesIO(data))
        elif isinstance(data, (str, Path)):
            image = Image.open(data)
        elif hasattr(data, "convert"):
            image = data
        else:
            raise DataError(f"{where}: not an image ({type(data).__name__})")
        return image.convert("RGB")
    except (OSError, ValueError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"{where}: cannot decode the image ({exc})") from exc


def _header_size(data: Any, where: str) -> tuple[int, int]:
    from PIL import Image

    try:
        if isinstance(data, dict):
            data = data.get("bytes") or data.get("path")
        if hasattr(data, "size") and hasattr(data, "convert"):
            return tuple(data.size)
        source = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
        with Image.open(source) as image:
            return image.size
    except (OSError, ValueError, TypeError) as exc:
        raise DataError(f"{where}: cannot read the image size ({exc})") from exc


class BagelParquet:
    """Bagel/Echo-4o parquet files (a folder searched recursively, or one file)."""

    def __init__(self, path: Path) -> None:
        import pyarrow.parquet as pq

        self.files = sorted(path.rglob("*.parquet")) if path.is_dir() else [path]
        if not self.files:
            raise DataError(f"{path}: no .parquet files")
        self.rows: list[tuple[int, int, int]] = []  # (file, row group, row in group)
        self.kinds: list[str] = []
        for number, file in enumerate(self.files):
            meta = pq.ParquetFile(file)
            columns = set(meta.schema_arrow.names)
            if {"image", "captions"} <= columns:
                kind = "t2i"
            elif {"image_list", "instruction_list"} <= columns:
                kind = "multi_reference"
            else:
                raise DataError(f"{file}: columns {sorted(columns)} are neither image+captions (text-to-image) "
                                "nor image_list+instruction_list (multi-reference)")
            self.kinds.append(kind)
            for group in range(meta.num_row_groups):
                self.rows.extend((number, group, r) for r in range(meta.metadata.row_group(group).num_rows))
        self._groups: dict[tuple[int, int], dict[str, list]] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def _group(self, file: int, group: int) -> dict[str, list]:
        import pyarrow.parquet as pq

        key = (file, group)
        if key not in self._groups:
            if len(self._groups) >= 2:
                self._groups.pop(next(iter(self._groups)))
            self._groups[key] = pq.ParquetFile(self.files[file]).read_row_group(group).to_pydict()
        return self._groups[key]

    def _row(self, i: int) -> tuple[dict[str, Any], str, str]:
        file, group, row = self.rows[i]
        data = self._group(file, group)
        where = f"{self.files[file]} row group {group} row {row}"
        return {k: v[row] for k, v in data.items()}, self.kinds[file], where

    def size(self, i: int) -> tuple[int, int]:
        row, kind, where = self._row(i)
        return _header_size(row["image"] if kind == "t2i" else row["image_list"][-1], where)

    def reference_count(self, i: int) -> int:
        file, _, _ = self.rows[i]
        return 0 if self.kinds[file] == "t2i" else len(self._row(i)[0]["image_list"]) - 1

    def load(self, i: int) -> RawSample:
        row, kind, where = self._row(i)
        if kind == "t2i":
            return RawSample(_rgb(row["image"], where), [], _captions(row["captions"], where), row.get("id"))
        images = row["image_list"] or []
        if len(images) < 2:
            raise DataError(f"{where}: image_list holds {len(images)} image(s); references then the target expected")
        instructions = row["instruction_list"] or []
        last = instructions[-1] if instructions else None
        return RawSample(_rgb(images[-1], f"{where} target"),
                         [_rgb(x, f"{where} reference {k + 1}") for k, x in enumerate(images[:-1])],
                         _captions(last, where), row.get("id"))


def _captions(value: Any, where: str) -> tuple[str, ...]:
    found = caption_alternatives(value)
    if not found:
        raise DataError(f"{where}: no caption text ({value!r})")
    return found


class OmniGen2Jsonl:
    """OmniGen2 jsonl files (one file, or every .jsonl in a folder)."""

    def __init__(self, path: Path) -> None:
        files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
        if not files:
            raise DataError(f"{path}: no .jsonl files")
        self.lines: list[tuple[dict[str, Any], str, Path]] = []
        for file in files:
            with open(file, encoding="utf-8") as handle:
                for number, text in enumerate(handle, start=1):
                    if not text.strip():
                        continue
                    where = f"{file} line {number}"
                    try:
                        record = json.loads(text)
                    except json.JSONDecodeError as exc:
                        raise DataError(f"{where}: not JSON ({exc})") from exc
                    if not isinstance(record, dict) or "output_image" not in record or "instruction" not in record:
                        raise DataError(f"{where}: an OmniGen2 line needs instruction and output_image")
                    self.lines.append((record, where, file.parent))

    def __len__(self) -> int:
        return len(self.lines)

    def _path(self, value: str, folder: Path) -> Path:
        path = Path(value)
        return path if path.is_absolute() else folder / path

    def size(self, i: int) -> tuple[int, int]:
        record, where, folder = self.lines[i]
        return _header_size(self._path(record["output_image"], folder), where)

    def reference_count(self, i: int) -> int:
        return len(self.lines[i][0].get("input_images") or [])

    def load(self, i: int) -> RawSample:
        record, where, folder = self.lines[i]
        references = [_rgb(self._path(p, folder), f"{where} input image {k + 1}")
                      for k, p in enumerate(record.get("input_images") or [])]
        return RawSample(_rgb(self._path(record["output_image"], folder), f"{where} output_image"), references,
                         _captions(record["instruction"], where), record.get("id"))


class HuggingFaceRows:
    """A ``datasets`` dataset (from ``save_to_disk`` or ``load_dataset``) with image + caption columns."""

    def __init__(self, dataset, where: str, image_column: str, caption_column: str | None) -> None:
        from datasets import Image

        columns = list(dataset.column_names)
        if image_column not in columns:
            raise DataError(f"{where}: no image column {image_column!r} (columns: {', '.join(columns)})")
        caption_column = caption_column or next((c for c in CAPTION_COLUMNS if c in columns), None)
        if caption_column not in columns:
            raise DataError(f"{where}: no caption column (looked for {', '.join(CAPTION_COLUMNS)}; "
                            f"columns: {', '.join(columns)}); set data.caption_column")
        self.reference_column = next((c for c in REFERENCE_COLUMNS if c in columns), None)
        self.alternative_columns = [c for c in ALTERNATIVE_COLUMNS if c in columns and c != caption_column]
        if isinstance(dataset.features.get(image_column), Image):
            dataset = dataset.cast_column(image_column, Image(decode=False))
        self.dataset, self.where = dataset, where
        self.image_column, self.caption_column = image_column, caption_column

    def __len__(self) -> int:
        return len(self.dataset)

    def size(self, i: int) -> tuple[int, int]:
        return _header_size(self.dataset[i][self.image_column], f"{self.where} row {i}")

    def reference_count(self, i: int) -> int:
        return len(self.dataset[i][self.reference_column] or []) if self.reference_column else 0

    def load(self, i: int) -> RawSample:
        row, where = self.dataset[i], f"{self.where} row {i}"
        references = row.get(self.reference_column) or [] if self.reference_column else []
        captions = _captions(row[self.caption_column], where)
        for column in self.alternative_columns:  # original prompt beside the rewritten one
            captions += tuple(c for c in caption_alternatives(row[column]) if c not in captions)
        return RawSample(_rgb(row[self.image_column], where),
                         [_rgb(x, f"{where} reference {k + 1}") for k, x in enumerate(references)], captions,
                         row.get("id"))


def detect_format(source: str) -> str:
    """The format a source looks like: ``hf`` for hf:NAME, else by the files the path holds."""
    if source.startswith("hf:"):
        return "hf"
    path = Path(source)
    if not path.exists():
        raise DataError(f"{source}: no such file or folder")
    if path.is_file():
        if path.suffix == ".parquet":
            return "bagel"
        if path.suffix == ".jsonl":
            return "omnigen2"
        raise DataError(f"{source}: a .parquet or .jsonl file, or a folder, expected")
    if (path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file():
        return "hf_folder"
    found = {"bagel": any(path.rglob("*.parquet")), "omnigen2": any(path.glob("*.jsonl"))}
    kinds = [k for k, v in found.items() if v]
    if len(kinds) != 1:
        what = "both parquet and jsonl files" if kinds else "no parquet, jsonl or datasets folder"
        raise DataError(f"{source}: holds {what}; point data.sources at one export (or set data.format)")
    return kinds[0]


def open_source(source: str, settings) -> Any:
    """One source (path or ``hf:NAME``) opened in ``settings.format`` (or detected)."""
    kind = settings.format if settings.format != "auto" else detect_format(source)
    if kind == "bagel":
        return BagelParquet(Path(source))
    if kind == "omnigen2":
        return OmniGen2Jsonl(Path(source))
    import datasets

    if kind == "hf_folder":
        dataset = datasets.load_from_disk(source)
        if isinstance(dataset, datasets.DatasetDict):
            if settings.split not in dataset:
                raise DataError(f"{source}: no split {settings.split!r} (splits: {', '.join(dataset)})")
            dataset = dataset[settings.split]
        return HuggingFaceRows(dataset, source, settings.image_column, settings.caption_column)
    name = source[3:] if source.startswith("hf:") else source
    dataset = datasets.load_dataset(name, split=settings.split)
    return HuggingFaceRows(dataset, source, settings.image_column, settings.caption_column)


class TrainingData:
    """All sources as one indexable collection (the first ``limit`` samples when set)."""

    def __init__(self, sources: Sequence[Any], limit: int | None = None) -> None:
        self.index = [(s, i) for s, source in enumerate(sources) for i in range(len(source))]
        if limit is not None:
            self.index = self.index[:limit]
        self.sources = list(sources)
        if not self.index:
            raise DataError("the training data holds no samples")

    @classmethod
    def from_settings(cls, settings) -> "TrainingData":
        if not settings.sources:
            raise DataError("data.sources is empty: give export folders/files or hf:NAME datasets")
        return cls([open_source(s, settings) for s in settings.sources], settings.limit)

    def __len__(self) -> int:
        return len(self.index)

    def size(self, i: int) -> tuple[int, int]:
        source, row = self.index[i]
        return self.sources[source].size(row)

    def reference_count(self, i: int) -> int:
        source, row = self.index[i]
        return self.sources[source].reference_count(row)

    def load(self, i: int) -> RawSample:
        source, row = self.index[i]
        return self.sources[source].load(row)

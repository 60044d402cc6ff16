"""Bagel / Echo-4o training parquet, written streaming (a row group at a time).

* Text-to-image (fantasy, instruction) -> ``bagel/t2i/part-NNNNN.parquet`` with ``image``
  (encoded bytes) and ``captions`` (a JSON string ``{"0": final prompt, "1": original}``), as
  Bagel's ``t2i_pretrain`` loader reads them.
* Multi-reference -> ``bagel/multi_reference/part-NNNNN.parquet`` with ``image_list`` (references
  first, target last, encoded bytes) and ``instruction_list`` (``[[instruction]]``).
* Row groups are sized so that every one of ``gpus x workers`` data-loader workers gets at
  least one, and the t2i data (which Bagel's t2i loader shards by file) is cut into at least
  that many files.
* ``bagel/parquet_info/<kind>.json``, ``bagel/dataset_info.py.txt`` (lines to append to Bagel's
  ``data/dataset_info.py``) and ``bagel/data_config.yaml`` (a training data config): written by
  :class:`~echo4o_eval.data_gen.bagel_registration.BagelRegistration`, the same writer
  ``echo4o-eval bagel-recipe`` uses, so both name the data ``echo4o_synth_t2i`` and
  ``echo4o_synth_multi_reference``.
* Samples whose token count at the training resolution exceeds ``max_tokens_per_sample`` (Bagel
  silently skips them) are counted and named in the summary; ``shrink_references_to`` re-encodes
  references smaller.

Every row also carries ``id`` (ignored by Bagel; for tracing a row back to its records). An
earlier export's part files and parquet_info in the same folder are deleted first.

Example:
    >>> image_tokens((1024, 1024), 1024, 16), image_tokens((2048, 1024), 1024, 16)
    (4096, 2048)
    >>> row_group_size(100, gpus=8, workers=4)  # 34 row groups for 32 readers
    3
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any, Iterable

from echo4o_eval.data_gen.bagel_registration import DATASET_NAMES, KINDS, BagelRegistration
from echo4o_eval.data_gen.config import BagelExport

VAE_STRIDE = 16  # VAE downsampling 8 x latent patch 2
VIT_PATCH = 14
MAX_ROW_GROUP = 1000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def image_tokens(size: tuple[int, int], max_side: int, stride: int) -> int:
    """Tokens of an image resized to fit ``max_side`` (never enlarged), in ``stride`` patches."""
    width, height = size
    scale = min(1.0, max_side / max(width, height))
    return math.ceil(width * scale / stride) * math.ceil(height * scale / stride)


def row_group_size(rows: int, gpus: int, workers: int) -> int:
    """Rows per row group so that there are at least ``gpus * workers`` row groups (when rows allow)."""
    return max(1, min(MAX_ROW_GROUP, rows // max(1, gpus * workers) or 1))


def png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's header, or None when ``data`` is not a PNG.

    >>> import io; from PIL import Image; buffer = io.BytesIO(); Image.new("RGB", (5, 3)).save(buffer, "PNG")
    >>> png_size(buffer.getvalue()), png_size(b"GIF89a")
    ((5, 3), None)
    """
    if len(data) < 24 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _encoded(path: str, image_format: str, max_side: int | None = None) -> tuple[bytes, tuple[int, int]]:
    from PIL import Image

    data = Path(path).read_bytes()
    size = png_size(data)
    if image_format == "png" and size and (not max_side or max(size) <= max_side):
        return data, size  # stored as generated, never decoded
    with Image.open(io.BytesIO(data)) as image:
        size = image.size
        image = image.convert("RGB")
        if max_side and max(size) > max_side:
            scale = max_side / max(size)
            image = image.resize((max(1, round(size[0] * scale)), max(1, round(size[1] * scale))))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG" if image_format == "png" else "JPEG", quality=95)
        return buffer.getvalue(), image.size


class _PartWriter:
    """Rows -> part files of at most rows_per_file rows, row groups of a fixed size."""

    def __init__(self, folder: Path, schema, rows_per_file: int, group: int) -> None:
        self.folder, self.schema, self.group = folder, schema, group
        self.rows_per_file = max(group, rows_per_file - rows_per_file % group)
        self.buffer: list[dict] = []
        self.writer = None
        self.rows_in_file = 0
        self.info: dict[str, dict[str, int]] = {}
        folder.mkdir(parents=True, exist_ok=True)

    def add(self, row: dict) -> None:
        self.buffer.append(row)
        if len(self.buffer) >= self.group:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self.buffer:
            return
        if self.writer is None:
            path = self.folder / f"part-{len(self.info):05d}.parquet"
            self.writer = pq.ParquetWriter(str(path), self.schema)
            self.current = str(path.resolve())
            self.info[self.current] = {"num_row_groups": 0, "num_rows": 0}
        table = pa.Table.from_pydict({name: [row[name] for row in self.buffer] for name in self.schema.names},
                                     schema=self.schema)
        self.writer.write_table(table, row_group_size=self.group)
        self.info[self.current]["num_row_groups"] += 1
        self.info[self.current]["num_rows"] += len(self.buffer)
        self.rows_in_file += len(self.buffer)
        self.buffer = []
        if self.rows_in_file >= self.rows_per_file:
            self._close_file()

    def _close_file(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
            self.rows_in_file = 0

    def close(self) -> dict[str, dict[str, int]]:
        self._flush()
        self._close_file()
        return self.info


def _remove_previous(root: Path) -> None:
    """Delete what an earlier export wrote here (part files, parquet_info): a rerun with fewer
    samples or files must not leave stale parts that Bagel and the training readers would read."""
    for kind in KINDS:
        for old in (root / kind).glob("part-*.parquet"):
            old.unlink()
        (root / "parquet_info" / f"{kind}.json").unlink(missing_ok=True)


def export_bagel(samples: Iterable[dict[str, Any]], counts: dict[str, int], out_dir: str | Path,
                 settings: BagelExport) -> dict[str, Any]:
    """Write the parquet files, parquet_info and snippets; returns counts, files and warnings."""
    import pyarrow as pa

    root = Path(out_dir) / "bagel"
    _remove_previous(root)
    n_t2i = counts.get("fantasy", 0) + counts.get("instruction", 0)
    n_multi = counts.get("multi_reference", 0)
    t2i_schema = pa.schema([("id", pa.string()), ("image", pa.binary()), ("captions", pa.string())])
    multi_schema = pa.schema([("id", pa.string()), ("image_list", pa.list_(pa.binary())),
                              ("instruction_list", pa.list_(pa.list_(pa.string())))])
    writers = {
        # Bagel's t2i loader shards whole files over readers: at least gpus x workers files too
        "t2i": _PartWriter(root / "t2i", t2i_schema,
                           min(settings.rows_per_file, max(1, n_t2i // max(1, settings.gpus * settings.workers))),
                           row_group_size(n_t2i, settings.gpus, settings.workers)),
        "multi_reference": _PartWriter(root / "multi_reference", multi_schema, settings.rows_per_file,
                                       row_group_size(n_multi, settings.gpus, settings.workers)),
    }
    over_limit: list[dict[str, Any]] = []
    for sample in samples:
        text_tokens = math.ceil(len(sample["prompt"].split()) * 1.5)
        target, size = _encoded(sample["image_path"], settings.image_format)
        tokens = text_tokens + image_tokens(size, settings.vae_max_size, VAE_STRIDE)
        if sample["task"] == "edit":
            images = []
            for path in sample["references"]:
                data, ref_size = _encoded(path, settings.image_format, settings.shrink_references_to)
                images.append(data)
                tokens += image_tokens(ref_size, settings.vae_max_size, VAE_STRIDE)
                tokens += image_tokens(ref_size, settings.vit_max_size, VIT_PATCH)
            writers["multi_reference"].add({"id": sample["id"], "image_list": images + [target],
                                            "instruction_list": [[sample["prompt"]]]})
        else:
            captions = {str(i): text for i, text in enumerate(sample["captions"])}
            writers["t2i"].add({"id": sample["id"], "image": target, "captions": json.dumps(captions)})
        if tokens > settings.max_tokens_per_sample:
            over_limit.append({"id": sample["id"], "tokens": tokens})
    info = {name: writer.close() for name, writer in writers.items()}
    registration = BagelRegistration({kind: (root / kind).resolve() for kind in info}, info)
    readers = settings.gpus * settings.workers
    registration.write(root, readers=readers, by="echo4o-eval synth export", dataset_info_name="dataset_info.py.txt",
                       config_name="data_config.yaml")
    warnings = registration.reader_warnings(readers, f"{settings.gpus} GPUs x {settings.workers} workers")
    if not registration.kinds:
        warnings.append("no kept samples: the Bagel export holds no parquet file (see `synth status`)")
    if over_limit:
        hint = ("set export.bagel.shrink_references_to (e.g. 512) to re-encode references smaller"
                if not settings.shrink_references_to else "shrink references further or raise the limit")
        warnings.append(f"{len(over_limit)} sample(s) exceed max_tokens_per_sample={settings.max_tokens_per_sample} "
                        f"at the training resolution; Bagel's loader skips them silently; {hint}")
    return {"rows": {k: registration.rows(k) for k in info}, "files": {k: len(v) for k, v in info.items()},
            "row_groups": {k: registration.row_groups(k) for k in info},
            "over_token_limit": len(over_limit), "over_token_limit_ids": [o["id"] for o in over_limit[:50]],
            "dataset_names": {kind: DATASET_NAMES[kind] for kind in registration.kinds},
            "warnings": warnings}

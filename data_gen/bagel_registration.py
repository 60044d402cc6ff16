"""How Bagel's trainer finds an Echo-4o export: dataset names, parquet_info, DATASET_INFO lines and
the dataset YAML. The one writer of these files, used by ``synth export`` (``bagel/`` holds
``dataset_info.py.txt`` and ``data_config.yaml``) and by ``echo4o-eval bagel-recipe``
(``dataset_info_echo4o.py`` and ``echo4o_data.yaml``), so both register the same data under the
same names.

Bagel's ``train/pretrain_unified_navit.py`` reads a YAML of groups (``t2i_pretrain``,
``unified_edit``) listing dataset names, and looks each name up in ``DATASET_INFO``
(``data/dataset_info.py``): a folder of parquet files, their count, the sample count and, for
``unified_edit``, a ``parquet_info`` JSON (per file ``{"num_row_groups", "num_rows"}``, keyed by
the file's absolute path). The names:

=====================  ================  ================================
export folder          Bagel group       dataset name
=====================  ================  ================================
``t2i/``               ``t2i_pretrain``  ``echo4o_synth_t2i``
``multi_reference/``   ``unified_edit``  ``echo4o_synth_multi_reference``
=====================  ================  ================================

``bagel-recipe`` output written before the two commands shared this module used
``echo4o_t2i`` / ``echo4o_multi_reference`` (:data:`OLD_DATASET_NAMES`); those files are
self-consistent (their YAML names what their lines register) and keep working. Nothing here
reads a dataset name back, so no alias is registered: an alias could silently re-point an old
YAML at a newer export.

``num_used_data`` (the YAML) is the number of parquet files a group reads; Bagel repeats files
to reach it, and it is set to at least the number of data-loader workers (GPUs x nodes x
workers) so that every worker gets a file.

Example:
    >>> registration = BagelRegistration(
    ...     folders={"t2i": Path("/data/bagel/t2i")},
    ...     files={"t2i": {"/data/bagel/t2i/part-00000.parquet": {"num_row_groups": 2, "num_rows": 6}}})
    >>> namespace = {"DATASET_INFO": {"t2i_pretrain": {}}}
    >>> exec(registration.dataset_info_lines({}, "a doctest"), namespace)  # what appending does
    >>> namespace["DATASET_INFO"]["t2i_pretrain"]["echo4o_synth_t2i"]["num_total_samples"]
    6
    >>> import yaml
    >>> yaml.safe_load(registration.data_config(readers=4, by="a doctest"))["t2i_pretrain"]["num_used_data"]
    [4]
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["KINDS", "GROUPS", "DATASET_NAMES", "OLD_DATASET_NAMES", "COLUMNS", "BagelDataError",
           "BagelRegistration", "parquet_info", "find_export_folders"]

KINDS = ("t2i", "multi_reference")
GROUPS = {"t2i": "t2i_pretrain", "multi_reference": "unified_edit"}
DATASET_NAMES = {"t2i": "echo4o_synth_t2i", "multi_reference": "echo4o_synth_multi_reference"}
OLD_DATASET_NAMES = {"t2i": "echo4o_t2i", "multi_reference": "echo4o_multi_reference"}  # bagel-recipe, before
COLUMNS = {"t2i": {"image", "captions"}, "multi_reference": {"image_list", "instruction_list"}}
T2I_TRANSFORM = {"image_stride": 16, "max_image_size": 1024, "min_image_size": 512}
VIT_TRANSFORM = {"image_stride": 14, "max_image_size": 980, "min_image_size": 378}


class BagelDataError(ValueError):
    """An export Bagel cannot use; the message names the file and the problem."""


def parquet_info(folder: Path, kind: str) -> dict[str, dict[str, int]]:
    """``{absolute path: {num_row_groups, num_rows}}`` of ``folder``'s parquet files, after checking
    each file has ``kind``'s columns (:data:`COLUMNS`)."""
    import pyarrow.parquet as pq

    info = {}
    for file in sorted(folder.glob("*.parquet")):
        meta = pq.ParquetFile(file)
        missing = COLUMNS[kind] - set(meta.schema_arrow.names)
        if missing:
            raise BagelDataError(f"{file}: missing column(s) {', '.join(sorted(missing))}")
        info[str(file.resolve())] = {"num_row_groups": meta.num_row_groups, "num_rows": meta.metadata.num_rows}
    return info


def find_export_folders(export_dir: Path) -> dict[str, Path]:
    """``{kind: folder}`` for the kinds with parquet files in a ``synth export`` folder (or its
    ``bagel/`` subfolder, or any folder holding ``t2i/`` and/or ``multi_reference/``)."""
    root = export_dir / "bagel" if (export_dir / "bagel").is_dir() else export_dir
    found = {kind: root / kind for kind in KINDS if any((root / kind).glob("*.parquet"))}
    if not found:
        raise BagelDataError(f"{export_dir}: no t2i/ or multi_reference/ parquet files (a `synth export` folder, "
                             "or its bagel/ subfolder, expected)")
    return found


def _check_first_row(kind: str, path: str) -> None:
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path)
    if not meta.metadata.num_rows:
        return
    row = meta.read_row_group(0, columns=sorted(COLUMNS[kind])).to_pylist()[0]
    if kind == "t2i":
        try:
            captions = json.loads(row["captions"])
        except (TypeError, json.JSONDecodeError) as exc:
            raise BagelDataError(f"{path}: captions is not a JSON string ({exc})") from exc
        if not isinstance(captions, dict):
            raise BagelDataError(f"{path}: captions must be a JSON mapping (Bagel iterates its values)")
    elif len(row["image_list"] or []) < 2 or not all(isinstance(x, list) for x in row["instruction_list"] or [None]):
        raise BagelDataError(f"{path}: image_list needs references + target and instruction_list [[text, ...]]")


@dataclass
class BagelRegistration:
    """The parquet files of an export, per kind (``t2i``, ``multi_reference``), and what registers them.

    ``folders``: ``{kind: folder}``; ``files``: ``{kind: {absolute path: {num_row_groups, num_rows}}}``.
    Kinds without files are left out of every file written.
    """

    folders: dict[str, Path] = field(default_factory=dict)
    files: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)

    @classmethod
    def from_export(cls, export_dir: str | Path) -> "BagelRegistration":
        """Scan an export's parquet files (columns checked, first rows checked)."""
        folders = find_export_folders(Path(export_dir))
        files = {kind: parquet_info(folder, kind) for kind, folder in folders.items()}
        for kind, info in files.items():
            for path in list(info)[:1]:
                _check_first_row(kind, path)
        return cls({kind: folder.resolve() for kind, folder in folders.items()}, files)

    @property
    def kinds(self) -> list[str]:
        """The kinds with at least one file, in :data:`KINDS` order."""
        return [kind for kind in KINDS if self.files.get(kind)]

    def rows(self, kind: str) -> int:
        """Samples of ``kind``."""
        return sum(entry["num_rows"] for entry in self.files.get(kind, {}).values())

    def row_groups(self, kind: str) -> int:
        """Row groups of ``kind`` (Bagel's edit loader shards by row group)."""
        return sum(entry["num_row_groups"] for entry in self.files.get(kind, {}).values())

    def dataset_info_lines(self, info_paths: dict[str, Path], by: str) -> str:
        """Python lines to append to Bagel's ``data/dataset_info.py``."""
        lines = [f"# Echo-4o synthetic data (written by {by}).",
                 "# Append these lines to the end of Bagel's data/dataset_info.py.",
                 "# (t2i_pretrain gets no parquet_info_path: Bagel's T2IIterableDataset takes no parquet_info.)"]
        for kind in self.kinds:
            entry = {"data_dir": str(self.folders[kind]), "num_files": len(self.files[kind]),
                     "num_total_samples": self.rows(kind)}
            if kind == "multi_reference":
                entry["parquet_info_path"] = str(info_paths[kind])
            lines.append(f"DATASET_INFO.setdefault({GROUPS[kind]!r}, {{}})[{DATASET_NAMES[kind]!r}] = {entry!r}")
        return "\n".join(lines) + "\n"

    def data_config(self, readers: int, by: str) -> str:
        """The dataset YAML (``--dataset_config_file``): one group per kind, ``num_used_data`` at
        least ``readers`` (data-loader workers in all)."""
        import yaml

        groups = {}
        for kind in self.kinds:
            group = {"dataset_names": [DATASET_NAMES[kind]], "image_transform_args": dict(T2I_TRANSFORM)}
            if kind == "multi_reference":
                group["vit_image_transform_args"] = dict(VIT_TRANSFORM)
            group.update({"is_mandatory": True, "num_used_data": [max(len(self.files[kind]), readers)], "weight": 1})
            groups[GROUPS[kind]] = group
        header = (f"# Echo-4o synthetic data for Bagel (written by {by}). num_used_data: parquet files read,\n"
                  f"# at least the {readers} data-loader worker(s) this was written for (GPUs x nodes x workers;\n"
                  "# `echo4o-eval bagel-recipe --gpus --nodes --num-workers` writes it for others).\n")
        if "multi_reference" in self.kinds:
            header += ("# visual_und is on (references go through the ViT): batches also need CE tokens, so mix in\n"
                       "# Bagel's text/VLM example data, e.g. a vlm_sft group:\n"
                       "# vlm_sft:\n#   dataset_names: [llava_ov]\n#   image_transform_args: {image_stride: 14, "
                       "max_image_size: 980, min_image_size: 378}\n#   is_mandatory: true\n#   num_used_data: [1000]\n"
                       "#   weight: 0.2\n")
        return header + (yaml.safe_dump(groups, sort_keys=False) if groups else "# (no samples exported)\n")

    def reader_warnings(self, readers: int, what: str) -> list[str]:
        """Where ``readers`` data-loader workers (``what`` says how they are counted) outnumber the
        units Bagel shards over: files for t2i, row groups for multi-reference."""
        out = []
        for kind in self.kinds:
            files, groups = len(self.files[kind]), self.row_groups(kind)
            if kind == "t2i" and files < readers:
                out.append(f"t2i: {files} parquet file(s) for {readers} data-loader workers ({what}); Bagel's t2i "
                           f"loader shards by file, so it repeats files to reach num_used_data={readers}")
            if kind == "multi_reference" and groups < readers:
                out.append(f"{kind}: {groups} row group(s) for {readers} data-loader workers ({what}); "
                           "some read nothing (too few samples)")
        return out

    def write(self, out_dir: str | Path, *, readers: int, by: str, dataset_info_name: str,
              config_name: str) -> dict[str, Path]:
        """Write ``parquet_info/<kind>.json``, the DATASET_INFO lines and the dataset YAML into
        ``out_dir``; returns ``{"parquet_info <kind>", "dataset_info lines", "dataset yaml": path}``."""
        out = Path(out_dir).resolve()
        (out / "parquet_info").mkdir(parents=True, exist_ok=True)
        written: dict[str, Path] = {}
        info_paths = {}
        for kind in self.kinds:
            info_paths[kind] = out / "parquet_info" / f"{kind}.json"
            info_paths[kind].write_text(json.dumps(self.files[kind], indent=2), encoding="utf-8")
            written[f"parquet_info {kind}"] = info_paths[kind]
        written["dataset_info lines"] = out / dataset_info_name
        written["dataset_info lines"].write_text(self.dataset_info_lines(info_paths, by), encoding="utf-8")
        written["dataset yaml"] = out / config_name
        written["dataset yaml"].write_text(self.data_config(readers, by), encoding="utf-8")
        return written

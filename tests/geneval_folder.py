"""Build a GenEval-layout image folder with matching precomputed detections (test data).

Even image indices get detections that satisfy every include clause; odd ones get none;
every seventh (prompt + index) image is left missing, so runs have imperfect coverage.
"""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image


def build_geneval_folder(root: Path, metadata_path: Path, n_prompts: int, images: int = 4) -> Path:
    """Write ``root/<00000>/samples/<0000>.png`` + metadata.jsonl and ``root/dets.jsonl``."""
    rows = [json.loads(line) for line in metadata_path.read_text().splitlines() if line.strip()]
    detections = []
    for i, row in enumerate(rows[:n_prompts]):
        folder = root / f"{i:05d}"
        (folder / "samples").mkdir(parents=True, exist_ok=True)
        (folder / "metadata.jsonl").write_text(json.dumps(row) + "\n")
        for k in range(images):
            path = folder / "samples" / f"{k:04d}.png"
            if (i + k) % 7 == 6:
                continue
            Image.new("RGB", (64, 64), (i % 256, k * 40, 0)).save(path)
            found = []
            if k % 2 == 0:
                for j, clause in enumerate(row["include"]):
                    for m in range(clause["count"]):
                        x = 100 * j + 10 * m
                        found.append({"class_name": clause["class"], "box": [x, 0, x + 5, 5],
                                      "score": 0.95, "color": clause.get("color", "red")})
            detections.append({"image": f"{i:05d}/samples/{k:04d}.png", "image_size": [64, 64],
                               "detections": found})
    (root / "dets.jsonl").write_text("".join(json.dumps(d) + "\n" for d in detections))
    return root / "dets.jsonl"

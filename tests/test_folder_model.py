"""Folder model: every supported layout, missing and unreadable images as statuses."""

import json

import pytest
from PIL import Image

from echo4o_eval.models.folder import FolderModel, make_folder_model
from echo4o_eval.records.types import GenerationRequest, Status


def _req(sample_id="12", index=11, tag="t", image_index=0, params=None):
    return GenerationRequest(sample_id, index, tag, "p", image_index, 0, "/unused.png", params=params or {})


def _png(path, size=(8, 8)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size).save(path)


def test_layouts(tmp_path):
    _png(tmp_path / "ours" / "12" / "1.png")
    _png(tmp_path / "gen" / "00011" / "samples" / "0002.png")
    _png(tmp_path / "omni" / "multi_object" / "12.png")
    (tmp_path / "flat").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "flat" / "12.jpg")
    assert FolderModel(tmp_path / "ours").generate([_req(image_index=1)])[0].params["layout"] == "ours"
    assert FolderModel(tmp_path / "gen").generate([_req(image_index=2)])[0].params["layout"] == "geneval"
    got = FolderModel(tmp_path / "omni").generate([_req(tag="multi_object")])[0]
    assert (got.status, got.params["layout"]) == (Status.OK, "omnicontext")
    got = FolderModel(tmp_path / "flat").generate([_req()])[0]
    assert got.image_path.endswith("12.jpg") and got.status is Status.OK


def test_run_directory_reads_its_images(tmp_path):
    (tmp_path / "manifest.json").write_text("{}")
    _png(tmp_path / "images" / "12" / "0.png")
    assert FolderModel(tmp_path).generate([_req()])[0].status is Status.OK


def test_missing_and_bad_images_are_statuses(tmp_path):
    (tmp_path / "12.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    model = FolderModel(tmp_path)
    bad, missing = model.generate([_req(), _req(sample_id="13")])
    assert bad.status is Status.BAD_IMAGE and "12.png" in bad.error
    assert missing.status is Status.MISSING_IMAGE and "sample 13" in missing.error


def test_truncated_png_is_bad(tmp_path):
    _png(tmp_path / "12.png", size=(256, 256))
    data = (tmp_path / "12.png").read_bytes()
    (tmp_path / "12.png").write_bytes(data[: len(data) // 2])
    # found from its header by default (the judge reports it: tests/test_folder_header_check.py)
    assert FolderModel(tmp_path).generate([_req()])[0].status is Status.OK
    assert FolderModel(tmp_path, check="decode").generate([_req()])[0].status is Status.BAD_IMAGE


def test_geneval_metadata_mismatch_is_flagged(tmp_path):
    _png(tmp_path / "00011" / "samples" / "0000.png")
    (tmp_path / "00011" / "metadata.jsonl").write_text(json.dumps({"tag": "counting", "include": []}) + "\n")
    got = FolderModel(tmp_path, layout="geneval").generate(
        [_req(params={"metadata": {"tag": "two_object", "include": []}})])[0]
    assert got.status is Status.BAD_IMAGE and "out of order" in got.error


def test_bad_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        make_folder_model(str(tmp_path / "nope"), {})
    with pytest.raises(ValueError, match="unknown folder layout"):
        make_folder_model(str(tmp_path), {"layout": "weird"})


@pytest.mark.parametrize("sample_id, tag", [
    ("../outside/secret", "multi_object"),      # OmniContext key climbing out
    ("12", "../outside"),                      # a tag climbing out
    ("/ABS/outside/secret", "multi_object"),    # an absolute key (replaced by the real path below)
    ("sub/../../outside/secret", "t"),       # climbing out after a subfolder
])
def test_ids_and_tags_never_lead_outside_the_folder(tmp_path, sample_id, tag):
    root = tmp_path / "images"
    root.mkdir()
    outside = tmp_path / "outside"
    _png(outside / "secret.png")
    _png(outside / "12.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "..png", format="PNG")  # what "<root>/..png" would hit
    sample_id = sample_id.replace("/ABS", str(tmp_path))
    for layout in ("auto", "omnicontext", "flat", "ours", "geneval"):
        got = FolderModel(root, layout=layout).generate([_req(sample_id=sample_id, tag=tag)])[0]
        assert got.status is Status.MISSING_IMAGE, (layout, got)
        assert got.image_path is None
    got = FolderModel(root).generate([_req(sample_id=sample_id, tag=tag)])[0]
    assert "would lead outside" in got.error and str(root) in got.error


def test_ids_with_subfolders_inside_the_folder_still_resolve(tmp_path):
    _png(tmp_path / "task" / "sub" / "k.png")
    got = FolderModel(tmp_path, layout="omnicontext").generate([_req(sample_id="sub/k", tag="task")])[0]
    assert got.status is Status.OK and got.params["layout"] == "omnicontext"


def bomb_png(width, height):
    """A tiny PNG whose header declares width x height pixels (a decompression bomb)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b""))


def test_decompression_bombs_are_bad_images_naming_the_file(tmp_path):
    (tmp_path / "12.png").write_bytes(bomb_png(30000, 30000))
    assert len((tmp_path / "12.png").read_bytes()) < 100
    got = FolderModel(tmp_path).generate([_req()])[0]
    assert got.status is Status.BAD_IMAGE
    assert str(tmp_path / "12.png") in got.error and "decompression bomb" in got.error


def test_the_pixel_limit_is_an_option(tmp_path):
    _png(tmp_path / "12.png", size=(100, 100))
    strict = make_folder_model(str(tmp_path), {"max_image_pixels": "5000"})
    got = strict.generate([_req()])[0]
    assert got.status is Status.BAD_IMAGE and "over the limit of 5000" in got.error
    assert make_folder_model(str(tmp_path), {}).generate([_req()])[0].status is Status.OK

"""Our list of GenEval's 80 object names equals the official object_names.txt, in order."""

from echo4o_eval.judges.labels import GENEVAL_OBJECT_NAMES


def test_names_equal_the_official_file(data_dir):
    official = (data_dir / "geneval" / "object_names.txt").read_text().split("\n")
    assert list(GENEVAL_OBJECT_NAMES) == [name for name in official if name]

"""Scoring engines shared by several benchmarks: the GenEval rule engine (``geneval_rules``),
the aggregation kit every evaluator uses (``aggregation``) and the VLM-judged helpers
(``judged``). Rules used by one benchmark only live in its folder."""

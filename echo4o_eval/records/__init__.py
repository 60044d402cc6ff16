"""What flows between the stages: the typed records (:mod:`.types`) and the protocols that
models, judges and evaluators satisfy (:mod:`.protocols`).

Example:
    >>> from echo4o_eval.records.types import Status
    >>> Status.OK.value
    'ok'
"""

"""What a run directory holds: the append-only, resumable run store (:mod:`.store`) and the
manifest with its config fingerprint (:mod:`.manifest`).

Example:
    >>> from echo4o_eval.rundir.store import RunStore
    >>> RunStore.__name__
    'RunStore'
"""

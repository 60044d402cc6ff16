"""Judge-prompt engines shared by the benchmarks: the official-text loader (paper parity, read
at run time, ``official``) and reply helpers (``replies``). Each benchmark's own prompts and
reply parsers live in its folder (``echo4o_eval.benchmarks.<id>.prompts``)."""

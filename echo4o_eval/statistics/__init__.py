"""Statistics, comparison and agreement: intervals that match each benchmark's design, the
paired regression gate, and judge-vs-judge / judge-vs-human agreement.

Modules: :mod:`.basic` (Wilson, exact McNemar, Wilcoxon, Holm, kappa, effect sizes),
:mod:`.jackknife` (intervals and paired changes for any benchmark aggregate: prompts are the
sampled units), :mod:`.bootstrap` (the cluster bootstrap over prompts, kept as a cross-check),
:mod:`.compare` (the gate and its minimum detectable drop), :mod:`.agreement` and
:mod:`.metric_maps` (a result's metrics as one flat map and back, shared by the interval methods);
:mod:`.terms` (metrics from additive per-prompt totals: the jackknife's shortcut),
:mod:`.quantiles` and :mod:`.shuffle` (t/normal quantiles and numpy's seeded permutation
without importing scipy or numpy, so a run's intervals cost milliseconds).
Nothing heavy is imported here.
"""

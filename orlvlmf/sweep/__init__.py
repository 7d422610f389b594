"""``orlvlmf sweep``: tasks × dataset qualities × methods × seeds through the stage machinery,
with Table I / II-shaped results.

    schema     the sweep config's dataclasses (leaf)
    methods    built-in methods (table columns): stages + overrides
    config     load and check a sweep config (``kind: sweep``)
    overrides  layered overrides, the stages a method's inputs need
    cells      one (task, quality, method, seed) cell and the run config it composes
    results    one result file per finished cell
    tables     table.md / table.csv / plots from the results; paper: the published numbers
    runner     run the cells, sharing stage outputs through a cache; cli: ``orlvlmf sweep``
"""

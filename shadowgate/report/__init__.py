"""``shadowgate report``: one rollout as a self-contained HTML page of plots.

``replay`` recomputes every check's path from the stored outcomes, ``plots`` draws the
figures, ``build.write_report`` assembles ``index.html``.
"""

"""``ledger report -o DIR``: a static site of the ledger that opens offline from the file
system: an index of models with their current version and stage, and per model its metric
trends across versions with intervals, subgroup forest plots, acceptance criteria with the
outcome computed from the metrics, its lineage, its technical file and its history.

``content`` gathers what each page shows from the state, ``plots`` draws (Vega-Lite, rendered
to SVG by vl-convert), ``pages`` writes HTML, and ``ledger.folders`` puts the folder in place.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import ledger

if TYPE_CHECKING:
    from ledger.state.ledger_state import LedgerState


def build_report(root: Path, state: LedgerState, out: Path) -> list[str]:
    """Write the report of ``state`` into the folder ``out``; the files written."""
    from ledger.folders import REPORT, staged
    from ledger.site.content import model_pages
    from ledger.site.pages import index_page, model_page, plot_specs
    from ledger.site.plots import render_all
    from ledger.views.formats import LINEAGE, LineageView, blocks
    from ledger.views.graph import record_node_id, select_around
    from ledger.views.html import lineage_svg
    from ledger.views.technical_file import technical_file

    models = model_pages(root, state)
    specs = [plot_specs(model) for model in models]
    drawn = iter(render_all([spec for one in specs for spec in one]))
    with staged(out, REPORT) as stage:
        stage.write("index.html", index_page(state.commit, models).encode())
        for model, mine in zip(models, specs, strict=True):
            # The model's lineage and its evaluations' test data.
            shown = [model.current, *(e.record for e in model.evaluated)]
            around = select_around(state.graph, shown, None, current_only=True)
            lineage = "".join(blocks(LINEAGE.render("html", LineageView(around, state))))
            stage.write(f"lineage/{model.name}.html", lineage.encode())
            technical = f"technical-file/{model.name}.html"
            stage.write(technical, technical_file(state, model.current).html().encode())
            plotted = [next(drawn) for _ in mine]
            outcomes = {record_node_id(e.record): e.outcome for e in model.evaluated}
            drawing = lineage_svg(around, outcomes)
            page = model_page(state.commit, model, plotted, drawing, f"../{technical}")
            stage.write(f"models/{model.name}.html", page.encode())
        stage.finish({"generator": f"ledger {ledger.__version__}", "commit": state.commit})
    return sorted(stage.written)

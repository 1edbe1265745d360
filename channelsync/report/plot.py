"""Drawing a report's sales per channel over time into a PNG (the optional ``plot`` extra).

matplotlib is not a dependency of channelsync itself; :func:`require_matplotlib` checks
for it before any work is done, so a missing extra is reported at once and by name.
"""

from __future__ import annotations

import importlib.util
import io
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

from channelsync.report.errors import ReportPlotUnavailableError
from channelsync.report.figures import Report

__all__ = ["plot_sales", "require_matplotlib", "sales_png"]

_INSTALL_HINT = "pip install 'channelsync[plot]'"


def require_matplotlib() -> None:
    """Raise :class:`ReportPlotUnavailableError` naming the extra if matplotlib is absent."""
    if importlib.util.find_spec("matplotlib") is None:
        raise ReportPlotUnavailableError(
            f"--plot needs matplotlib, which comes with the optional extra 'plot': {_INSTALL_HINT}"
        )


def plot_sales(report: Report, path: Path) -> Path:
    """Draw sales per channel per day, one panel per currency, into the PNG at ``path``.

    Currencies never share an axis: a panel per currency keeps CNY and USD apart.
    Returns the path written.
    """
    image = sales_png(report)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(image)
    return path


def sales_png(report: Report) -> bytes:
    """Return the PNG :func:`plot_sales` draws, as bytes (for a page that serves it)."""
    require_matplotlib()
    # The object-oriented API with the Agg canvas: no pyplot global state, no display.
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    by_currency: dict[str, dict[str, dict[date, Decimal]]] = defaultdict(lambda: defaultdict(dict))
    for row in report.daily:
        by_currency[row.currency][row.channel][row.day] = row.sales.amount
    currencies = sorted(by_currency) or ["-"]
    figure = Figure(figsize=(10, 3.5 * len(currencies)), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(currencies), 1, squeeze=False)[:, 0]
    days = list(report.period.days())
    for ax, currency in zip(axes, currencies, strict=True):
        for channel, sales in sorted(by_currency.get(currency, {}).items()):
            # Floats only at the drawing edge: a chart cannot show a fen's difference anyway.
            ax.plot(
                days,
                [float(sales.get(day, Decimal(0))) for day in days],
                marker="o",
                markersize=3,
                label=channel,
            )
        ax.set_title(f"Sales per channel per day ({currency}, days in {report.period.zone_name})")
        ax.set_ylabel(f"sales ({currency})")
        ax.grid(visible=True, alpha=0.3)
        if by_currency.get(currency):
            ax.legend(loc="upper left")
        else:
            ax.text(0.5, 0.5, "no sales in the period", ha="center", transform=ax.transAxes)
    figure.autofmt_xdate()
    image = io.BytesIO()
    figure.savefig(image, format="png", dpi=100)
    return image.getvalue()

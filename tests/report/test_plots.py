"""Report plots start their axes at the natural origin."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from orlvlmf.report.plots import _from_origin  # noqa: E402


def test_y_range_includes_zero_and_x_starts_at_zero():
    fig, ax = plt.subplots()
    ax.plot([1000, 2000, 3000], [0.7, 0.8, 0.9])
    _from_origin(ax, [[1000, 2000, 3000]], [[0.7, 0.8, 0.9]], None)
    assert ax.get_ylim()[0] == 0.0 and ax.get_xlim()[0] == 0.0
    plt.close(fig)
    fig, ax = plt.subplots()
    ax.plot([0, 1], [-5, -3])
    _from_origin(ax, [[0, 1]], [[-5, -3]], None)
    assert ax.get_ylim()[0] < -5 and ax.get_ylim()[1] == 0.0
    _from_origin(ax, [[0, 1]], [[0.2, 0.3]], (0.0, 1.0))
    assert ax.get_ylim() == (0.0, 1.0)
    plt.close(fig)

"""How a contact network feeds the risk: a documented, monotone boost of the queue priority.

An ad's stored score (``scoring.scorer``) is about its own text. The network it belongs to adds
evidence the text cannot show: many ads sharing one contact (DIG linked ads by contacts; InfoShield
found organised activity in ad groups) and one contact moving through cities (Ibanez and Suthers,
HICSS 2014). Both are weak on their own: independent workers post many ads and tour. So:

* ``boost = 1 - (1 - size_weight * s)(1 - movement_weight * m)`` where
  ``s = min(size - 1, size_cap - 1) / (size_cap - 1)`` (0 for a lone ad, 1 from ``size_cap`` ads on)
  and ``m`` is 1 when the network shows movement, else 0;
* ``linked risk = 1 - (1 - risk)(1 - boost)``: the review queue's priority.

Adding ads to a network, or movement, never lowers the linked risk, and the linked risk is never
below the ad's own risk. The weights (``AppSettings.linking``) are priors below the medium band,
so a network alone does not put an ad in the queue; it moves linked ads up within it.
"""

from __future__ import annotations


def network_boost(size: int, movement: bool, *, size_weight: float = 0.1, size_cap: int = 20,
                  movement_weight: float = 0.2) -> float:
    """The boost in [0, 1) a network gives each of its ads.

    Args:
        size: ads in the network (>= 1; 0 or 1 give no size boost).
        movement: the network shows movement (one contact in N cities within T days).
        size_weight: boost of a network of ``size_cap`` ads or more, in [0, 1).
        size_cap: size (ads, >= 2) from which the size boost is full.
        movement_weight: boost of movement, in [0, 1).

    Returns:
        ``1 - (1 - size_weight * s)(1 - movement_weight * m)``, see the module docstring.

    Raises:
        ValueError: a weight outside [0, 1) or ``size_cap`` below 2.
    """
    if not (0.0 <= size_weight < 1.0 and 0.0 <= movement_weight < 1.0):
        raise ValueError(f"weights must be in [0, 1), got size_weight={size_weight}, movement_weight={movement_weight}")
    if size_cap < 2:
        raise ValueError(f"size_cap must be at least 2, got {size_cap}")
    s = min(max(size - 1, 0), size_cap - 1) / (size_cap - 1)
    return 1.0 - (1.0 - size_weight * s) * (1.0 - (movement_weight if movement else 0.0))


def linked_risk(risk: float, boost: float | None) -> float:
    """``1 - (1 - risk)(1 - boost)``, both clipped to [0, 1]; ``risk`` itself when ``boost`` is None."""
    r = min(max(float(risk), 0.0), 1.0)
    if not boost:
        return r
    b = min(max(float(boost), 0.0), 1.0)
    return 1.0 - (1.0 - r) * (1.0 - b)

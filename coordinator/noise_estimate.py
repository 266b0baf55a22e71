"""Before a round starts: will the sites' DP noise swamp the average? (DESIGN §6)

Each site announces its DP settings when it connects (never its data). From them and the round's
config the coordinator estimates, per shared coordinate count d, the ratio of the noise's L2 norm to
the largest signal the clipped update can carry:
- site level: every site adds N(0, σ_i²C_i²) per coordinate to its update clipped to C_i, so the
  weighted mean Σw_i(Δ_i+z_i)/Σw_i carries noise of norm √d·√(Σ w_i²σ_i²C_i²)/Σw_i against a signal
  of at most C (the largest clip norm). With 2 sites at σ = 2.02 and d ≈ 1.3·10^5 that is ≈ 500.
- record level (DP-SGD): each local step's mean gradient over an expected batch B carries noise of
  norm σC√d/B against a clipped mean gradient of at most C, so σ√d/B per site, the worst site deciding.
A ratio above MAX_NOISE_RATIO (noise larger than the largest possible signal) refuses the round unless the
operator accepts it; the estimate and the decision go into the audit log either way.
"""
from __future__ import annotations

import math
from functools import lru_cache

from coordinator.store import StoreError

MAX_NOISE_RATIO = 1.0


def shared_coordinates(manifest: dict) -> int:
    """Coordinates of the update every site sends: parameters of global and group scope."""
    return sum(math.prod(t["shape"]) for t in manifest.get("tensors", [])
               if t.get("scope") != "private" and not t.get("statistic"))


@lru_cache(maxsize=256)
def _calibrated_sigma(epsilon: float, delta: float, rounds: int, q: float, steps: int) -> float:
    from privacy.dp.accountant import calibrate_noise

    return calibrate_noise(epsilon, delta, rounds, q, steps)


def site_sigma(p: dict, batch_size: int, epochs: int, local_steps: int) -> tuple[float, float, int]:
    """(σ, sampling rate q, steps) the site will use in a round of this config, as client_agent.site_privacy does."""
    if p["unit"] == "site":
        return (p["noise_multiplier"] or _calibrated_sigma(p["epsilon_budget"], p["delta"], p["planned_rounds"],
                                                           1.0, 1)), 1.0, 1
    from privacy.dp.dpsgd import steps_per_epoch

    q = min(1.0, batch_size / max(p["num_records"], 1))
    steps = epochs * steps_per_epoch(q)
    if local_steps > 0:
        steps = min(steps, local_steps)
    sigma = p["noise_multiplier"] or _calibrated_sigma(p["epsilon_budget"], p["delta"], p["planned_rounds"], q, steps)
    return sigma, q, steps


def estimate(privacy: dict[str, dict], weights: dict[str, float], d: int, batch_size: int, epochs: int = 1,
             local_steps: int = 0) -> dict:
    """The noise estimate of a round over the sites in `weights` (their privacy settings in `privacy`)."""
    per_site, site_level = [], []
    for site in sorted(weights):
        p = privacy.get(site)
        if not p or not p.get("unit") or p.get("clip_norm", 0) <= 0:
            per_site.append({"site": site, "unit": "none"})
            continue
        sigma, q, steps = site_sigma(p, batch_size, epochs, local_steps)
        entry = {"site": site, "unit": p["unit"], "sigma": round(sigma, 4), "clip_norm": p["clip_norm"]}
        if p["unit"] == "record":
            expected_batch = q * max(p["num_records"], 1)
            entry.update(q=round(q, 5), steps=steps, noise_to_signal=round(sigma * math.sqrt(d) / expected_batch, 4))
        else:
            site_level.append((weights[site], sigma, p["clip_norm"]))
        per_site.append(entry)
    total = sum(weights.values()) or 1.0
    out = {"shared_coordinates": d, "threshold": MAX_NOISE_RATIO, "sites": per_site}
    ratios = [e["noise_to_signal"] for e in per_site if "noise_to_signal" in e]
    if site_level:
        noise = math.sqrt(d) * math.sqrt(sum((w * s * c) ** 2 for w, s, c in site_level)) / total
        out["site_level_noise_to_signal"] = round(noise / max(c for _, _, c in site_level), 4)
        ratios.append(out["site_level_noise_to_signal"])
    out["noise_to_signal"] = max(ratios, default=0.0)
    out["swamped"] = out["noise_to_signal"] > MAX_NOISE_RATIO
    return out


def explain(est: dict) -> str:
    worst = est["noise_to_signal"]
    if "site_level_noise_to_signal" in est and est["site_level_noise_to_signal"] == worst:
        n = sum(1 for s in est["sites"] if s["unit"] == "site")
        how = (f"site-level DP noise on the average of {len(est['sites'])} sites ({n} adding noise) has "
               f"{worst:.1f}x the norm of the largest clipped update over {est['shared_coordinates']} shared "
               "coordinates")
    else:
        site = max((s for s in est["sites"] if "noise_to_signal" in s), key=lambda s: s["noise_to_signal"])
        how = (f"site {site['site']}'s DP-SGD noise (sigma {site['sigma']}, expected batch "
               f"{site['q']:.4g} of its records) is {worst:.2f}x the largest clipped mean gradient per step")
    return how


class NoiseGuard:
    """What each site announced about its DP settings, and the pre-round check."""

    def __init__(self):
        self.privacy: dict[str, dict] = {}

    def report(self, site_id: str, msg) -> None:
        self.privacy[site_id] = {"unit": msg.unit, "clip_norm": msg.clip_norm, "epsilon_budget": msg.epsilon_budget,
                                 "delta": msg.delta or 1e-5, "noise_multiplier": msg.noise_multiplier,
                                 "planned_rounds": msg.planned_rounds or 10, "num_records": msg.num_records}

    def check(self, chosen: list[str], settings, d: int, sites: list[dict], audit_event) -> dict | None:
        """None when no chosen site runs DP; the estimate when the round may start; raises when refused."""
        if not any((self.privacy.get(s) or {}).get("unit") and self.privacy[s].get("clip_norm", 0) > 0
                   for s in chosen) or d <= 0:
            return None
        samples = {s["site_id"]: s["num_samples"] for s in sites}
        weights = {site: float(max(samples.get(site) or 1, 1)) for site in chosen}
        try:
            est = estimate(self.privacy, weights, d, settings.batch_size, settings.epochs, settings.local_steps)
        except ValueError as exc:  # a budget no σ reaches: the sites would refuse anyway
            raise StoreError("precondition", f"noise estimate: {exc}") from exc
        if not est["swamped"]:
            return {**est, "decision": "accepted"}
        message = explain(est)
        if settings.accept_noise:
            return {**est, "decision": "accepted by the operator (--accept-noise)", "warning": message}
        audit_event("round_refused", 0, reason="noise would swamp the average", selected=chosen,
                    **{**est, "decision": "refused"})
        raise StoreError("precondition", f"refused: {message}; the model would not learn. Use record-level DP "
                                         "(dp_unit = \"record\", docs/privacy.md), more sites, or pass "
                                         "--accept-noise to run it anyway")

package fulgur.dist.co2;

import java.util.ArrayList;
import java.util.List;

/**
 * Settings of CO2's outer loop.
 *
 * @param tau       inner steps per outer round (τ)
 * @param outerLr   α: the outer step is x ← x − α·m
 * @param momentum  β: m ← β·m + Δ/Λ
 * @param clip      φ: each element of m is clamped to [−φ, φ] after the momentum update; 0 turns clipping off
 * @param penalty   Λ ≥ 1: the staleness gap penalty dividing the pseudo-gradient; 1 is none
 * @param staleness 1 (CO2): a round's averaged parameters are consumed one round later, while the next round runs;
 *                  0: consumed at once, waiting for the average (SlowMo, as CO2's released code does)
 */
public record Co2Config(int tau, double outerLr, double momentum, double clip, double penalty, int staleness) {

    /** τ 12, α 1, β 0.2 (the reference's GPT-2 example on 4 GPUs), no clipping, no penalty, one-step staleness. */
    public static Co2Config defaults() {
        return new Co2Config(12, 1.0, 0.2, 0, 1, 1);
    }

    public Co2Config {
        List<String> p = new ArrayList<>();
        if (tau < 1) {
            p.add("--co2-tau must be >= 1 (got " + tau + ")");
        }
        if (!(outerLr > 0) || Double.isInfinite(outerLr)) {
            p.add("--co2-outer-lr must be > 0 (got " + outerLr + ")");
        }
        if (!(momentum >= 0 && momentum < 1)) {
            p.add("--co2-outer-momentum must be in [0, 1) (got " + momentum + ")");
        }
        if (!(clip >= 0) || Double.isInfinite(clip)) {
            p.add("--co2-clip must be >= 0, 0 = off (got " + clip + ")");
        }
        if (!(penalty >= 1) || Double.isInfinite(penalty)) {
            p.add("--co2-penalty must be >= 1, 1 = none (got " + penalty + ")");
        }
        if (staleness != 0 && staleness != 1) {
            p.add("--co2-staleness must be 0 or 1 (got " + staleness + ")");
        }
        if (!p.isEmpty()) {
            throw new IllegalArgumentException("CO2: " + String.join("; ", p));
        }
    }

    /** The inner step of a round after which the outer step runs (the round's middle), 1-based. */
    int outerStepAt() {
        return staleness == 0 ? tau : (tau + 1) / 2;
    }

    public String describe() {
        return String.format(
                "CO2 τ %d, outer lr %s, outer momentum %s, clip %s, penalty %s, staleness %d",
                tau, fmt(outerLr), fmt(momentum), clip == 0 ? "off" : fmt(clip), fmt(penalty), staleness);
    }

    private static String fmt(double v) {
        return v == Math.rint(v) ? String.valueOf((long) v) : String.valueOf(v);
    }
}

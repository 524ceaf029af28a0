package fulgur.cuda.ops.moe;

import fulgur.cuda.CudaBackend;
import fulgur.cuda.Kernel;
import fulgur.cuda.ops.LaunchContext;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Mixture-of-experts routing on the device with no host reads (kernels in {@code moe.cu}), with the semantics of
 * {@code fulgur.nn.moe.MoeFeedForward}:
 * <ul>
 *   <li>{@link #route}: the top k experts of each token by router logit (ties: lower index), gates softmax(logits)
 *       or sigmoid(logits) at the picked experts, optionally renormalised over the k; per-expert counts and offsets
 *       by a device scan; each (token, slot) pair's row in expert-contiguous order, stable (token order within an
 *       expert), as MoeFeedForward's counting sort; and the load-balancing loss
 *       {@code α · E · Σ_e f_e · P_e} (f_e = pairs routed to e / N, P_e = mean softmax probability of e).</li>
 *   <li>{@link #gather}: token rows in expert order (the input of the grouped expert GEMMs);
 *       {@link #combine}: {@code out[t] = Σ_j gate[t,j] · y[row(t,j)]}.</li>
 *   <li>backward: {@link #combineBackward} (dy rows, d gates), {@link #gatherBackward} (dx), {@link #routeBackward}
 *       (d logits from d gates and, optionally, the loss's gradient).</li>
 * </ul>
 * Shapes are static (N tokens, k slots, E experts); the data-dependent sizes (rows per expert) stay on the device,
 * read by {@link GroupedGemm} from the offsets, so a whole MoE step can be captured in a CUDA graph. Up to
 * {@value #MAX_EXPERTS} experts and k up to {@value #MAX_TOP_K}.
 */
public final class MoeRouter {
    public static final int MAX_EXPERTS = 256;
    public static final int MAX_TOP_K = 8;
    static final String FILE = "moe.cu";
    /** Tokens per routing CTA (RT_TOK in moe.cu). */
    static final int TOKENS_PER_CTA = 128;

    public enum Gating {
        SOFTMAX,
        SIGMOID
    }

    /** Routing settings; MiniMax-01: 32 experts, top-2, softmax, renormalised, α = 0.01. */
    public record Config(int experts, int topK, Gating gating, boolean normalizeTopK, double auxLossCoef) {
        public Config {
            List<String> problems = new ArrayList<>();
            if (experts < 1 || experts > MAX_EXPERTS)
                problems.add("experts must be in [1, " + MAX_EXPERTS + "], got " + experts);
            if (topK < 1 || topK > Math.min(MAX_TOP_K, Math.max(1, experts))) {
                problems.add("topK must be in [1, min(" + MAX_TOP_K + ", experts=" + experts + ")], got " + topK);
            }
            if (gating == null) problems.add("gating must be set");
            if (!(auxLossCoef >= 0) || Double.isInfinite(auxLossCoef))
                problems.add("auxLossCoef must be finite and >= 0, got " + auxLossCoef);
            if (!problems.isEmpty())
                throw new IllegalArgumentException("MoeRouter.Config: " + String.join("; ", problems));
        }
    }

    /**
     * One routing decision, on the device: {@code experts} i32 [N, k], {@code gates} f32 [N, k], {@code rows} i32 [N, k]
     * (the row of each pair in expert order), {@code tokenOfRow} i32 [N·k], {@code counts} i32 [E], {@code offsets}
     * i32 [E+1] (expert e owns rows [offsets[e], offsets[e+1])), {@code auxLoss} f32 [1] (the load-balancing loss).
     */
    public record Routing(
            Config config,
            int tokens,
            Tensor experts,
            Tensor gates,
            Tensor rows,
            Tensor tokenOfRow,
            Tensor counts,
            Tensor offsets,
            Tensor auxLoss)
            implements AutoCloseable {
        /** Rows in expert order: N · k. */
        public int pairs() {
            return tokens * config.topK();
        }

        @Override
        public void close() {
            for (Tensor t : new Tensor[] {experts, gates, rows, tokenOfRow, counts, offsets, auxLoss}) t.close();
        }
    }

    /** Gradients of {@link #combine}: of the expert rows and of the gates. */
    public record CombineGradients(Tensor dRows, Tensor dGates) implements AutoCloseable {
        @Override
        public void close() {
            dRows.close();
            dGates.close();
        }
    }

    private final LaunchContext lc;

    public MoeRouter(CudaBackend backend) {
        this.lc = new LaunchContext(backend);
    }

    public static MoeRouter on(Device device) {
        return new MoeRouter((CudaBackend) LaunchContext.of(device).backend());
    }

    private Kernel kernel(String name) {
        return lc.kernel(FILE, Map.of(), name);
    }

    private int warpBlocks(long warps) {
        return (int) Math.max(1, Math.min((warps + 7) / 8, (long) lc.multiprocessors() * 32));
    }

    private int threadBlocks(long threads) {
        return (int) Math.max(1, Math.min((threads + 255) / 256, (long) lc.multiprocessors() * 32));
    }

    /** Checks router logits against the config: [N, E] f32 or bf16 with N >= 1. */
    static int checkLogits(String op, Tensor logits, Config c) {
        if (logits == null) throw new IllegalArgumentException(op + ": logits must not be null");
        if (logits.ndim() != 2 || (logits.dtype() != DType.F32 && logits.dtype() != DType.BF16)) {
            throw new IllegalArgumentException(op + ": logits must be f32 or bf16 [N, E], got " + logits.describe());
        }
        if (logits.size(1) != c.experts()) {
            throw new IllegalArgumentException(
                    op + ": logits have " + logits.size(1) + " experts, the config " + c.experts());
        }
        if (logits.size(0) < 1)
            throw new IllegalArgumentException(op + ": no tokens to route (logits " + logits.describe() + ")");
        if ((long) logits.size(0) * c.topK() > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(
                    op + ": N * k must fit an int, got " + logits.size(0) + " * " + c.topK());
        }
        return logits.size(0);
    }

    /** Checks token rows: bf16 [rows, D] with D a multiple of 8. */
    static void checkRows(String op, String what, Tensor t, int rows) {
        if (t == null) throw new IllegalArgumentException(op + ": " + what + " must not be null");
        if (t.ndim() != 2 || t.dtype() != DType.BF16 || t.size(0) != rows) {
            throw new IllegalArgumentException(
                    op + ": " + what + " must be bf16 [" + rows + ", D], got " + t.describe());
        }
        if (t.size(1) % 8 != 0 || t.size(1) < 8) {
            throw new IllegalArgumentException(
                    op + ": " + what + "'s row width must be a positive multiple of 8, got " + t.describe());
        }
    }

    /** Routes N tokens by their router logits (see the class comment). */
    public Routing route(Tensor logits, Config c) {
        String op = "moe.route";
        int n = checkLogits(op, logits, c);
        lc.onDevice(op, "logits", logits);
        int e = c.experts(), k = c.topK();
        int ctas = (n + TOKENS_PER_CTA - 1) / TOKENS_PER_CTA;
        Tensor lg = lc.contiguous(logits);
        Tensor experts = lc.empty(DType.I32, n, k), gates = lc.empty(DType.F32, n, k);
        Tensor rows = lc.empty(DType.I32, n, k), tokenOf = lc.empty(DType.I32, n * k);
        Tensor counts = lc.empty(DType.I32, e), offsets = lc.empty(DType.I32, e + 1), aux = lc.empty(DType.F32, 1);
        Tensor rank = lc.empty(DType.I32, n, k),
                ctaCounts = lc.empty(DType.I32, ctas, e),
                probs = lc.empty(DType.F32, ctas, e);
        try {
            kernel("moe_route")
                    .launch(
                            lc.stream(),
                            ctas,
                            1,
                            1,
                            256,
                            0,
                            lc.ptr(lg, op),
                            lg.dtype() == DType.BF16 ? 1 : 0,
                            n,
                            e,
                            k,
                            c.gating() == Gating.SIGMOID ? 1 : 0,
                            c.normalizeTopK() ? 1 : 0,
                            lc.ptr(experts, op),
                            lc.ptr(gates, op),
                            lc.ptr(rank, op),
                            lc.ptr(ctaCounts, op),
                            lc.ptr(probs, op));
            float auxScale = (float) (c.auxLossCoef() * e / ((double) n * n));
            kernel("moe_scan")
                    .launch(
                            lc.stream(),
                            1,
                            1,
                            1,
                            1024,
                            0,
                            lc.ptr(ctaCounts, op),
                            ctas,
                            e,
                            lc.ptr(counts, op),
                            lc.ptr(offsets, op),
                            lc.ptr(probs, op),
                            lc.ptr(aux, op),
                            auxScale);
            kernel("moe_dispatch")
                    .launch(
                            lc.stream(),
                            threadBlocks((long) n * k),
                            1,
                            1,
                            256,
                            0,
                            lc.ptr(experts, op),
                            lc.ptr(rank, op),
                            lc.ptr(ctaCounts, op),
                            lc.ptr(offsets, op),
                            lc.ptr(rows, op),
                            lc.ptr(tokenOf, op),
                            n,
                            k,
                            e);
        } finally {
            rank.close();
            ctaCounts.close();
            probs.close();
            LaunchContext.release(lg, logits);
        }
        return new Routing(c, n, experts, gates, rows, tokenOf, counts, offsets, aux);
    }

    /** The token rows of x [N, D] (bf16) in expert order: [N·k, D]. */
    public Tensor gather(Tensor x, Routing r) {
        String op = "moe.gather";
        checkRows(op, "x", x, r.tokens());
        lc.onDevice(op, "x", x);
        Tensor xc = lc.contiguous(x);
        int d = x.size(1);
        Tensor out = lc.empty(DType.BF16, r.pairs(), d);
        kernel("moe_gather_rows")
                .launch(
                        lc.stream(),
                        warpBlocks(r.pairs()),
                        1,
                        1,
                        256,
                        0,
                        lc.ptr(xc, op),
                        lc.ptr(r.tokenOfRow(), op),
                        lc.ptr(out, op),
                        r.pairs(),
                        d);
        LaunchContext.release(xc, x);
        return out;
    }

    /** Gradient of {@link #gather}: dx[t] = Σ_j dRows[row(t, j)], [N, D]. */
    public Tensor gatherBackward(Tensor dRows, Routing r) {
        String op = "moe.gatherBackward";
        checkRows(op, "dRows", dRows, r.pairs());
        lc.onDevice(op, "dRows", dRows);
        Tensor dc = lc.contiguous(dRows);
        int d = dRows.size(1);
        Tensor dx = lc.empty(DType.BF16, r.tokens(), d);
        kernel("moe_unpermute_bwd")
                .launch(
                        lc.stream(),
                        warpBlocks(r.tokens()),
                        1,
                        1,
                        256,
                        0,
                        lc.ptr(dc, op),
                        lc.ptr(r.rows(), op),
                        lc.ptr(dx, op),
                        r.tokens(),
                        r.config().topK(),
                        d);
        LaunchContext.release(dc, dRows);
        return dx;
    }

    /** out[t] = Σ_j gate[t, j] · y[row(t, j)]: y [N·k, D] (expert order) → [N, D]. */
    public Tensor combine(Tensor y, Routing r) {
        String op = "moe.combine";
        checkRows(op, "y", y, r.pairs());
        lc.onDevice(op, "y", y);
        Tensor yc = lc.contiguous(y);
        int d = y.size(1);
        Tensor out = lc.empty(DType.BF16, r.tokens(), d);
        kernel("moe_combine")
                .launch(
                        lc.stream(),
                        warpBlocks(r.tokens()),
                        1,
                        1,
                        256,
                        0,
                        lc.ptr(yc, op),
                        lc.ptr(r.gates(), op),
                        lc.ptr(r.rows(), op),
                        lc.ptr(out, op),
                        r.tokens(),
                        r.config().topK(),
                        d);
        LaunchContext.release(yc, y);
        return out;
    }

    /** Gradients of {@link #combine} for dOut [N, D]: dRows [N·k, D] and dGates f32 [N, k]. */
    public CombineGradients combineBackward(Tensor dOut, Tensor y, Routing r) {
        String op = "moe.combineBackward";
        checkRows(op, "dOut", dOut, r.tokens());
        checkRows(op, "y", y, r.pairs());
        if (dOut.size(1) != y.size(1))
            throw new IllegalArgumentException(
                    op + ": dOut " + dOut.describe() + " and y " + y.describe() + " differ in width");
        lc.onDevice(op, "dOut", dOut);
        lc.onDevice(op, "y", y);
        Tensor dc = lc.contiguous(dOut), yc = lc.contiguous(y);
        int d = y.size(1);
        Tensor dRows = lc.empty(DType.BF16, r.pairs(), d),
                dGates = lc.empty(DType.F32, r.tokens(), r.config().topK());
        kernel("moe_combine_bwd")
                .launch(
                        lc.stream(),
                        warpBlocks(r.tokens()),
                        1,
                        1,
                        256,
                        0,
                        lc.ptr(dc, op),
                        lc.ptr(yc, op),
                        lc.ptr(r.gates(), op),
                        lc.ptr(r.rows(), op),
                        lc.ptr(dRows, op),
                        lc.ptr(dGates, op),
                        r.tokens(),
                        r.config().topK(),
                        d);
        LaunchContext.release(dc, dOut);
        LaunchContext.release(yc, y);
        return new CombineGradients(dRows, dGates);
    }

    /**
     * Gradient of the router logits [N, E] (in the logits' dtype) from dGates f32 [N, k] and, when {@code dAux} (f32 [1]
     * on the device, the gradient of {@link Routing#auxLoss}) is not null, the load-balancing loss.
     */
    public Tensor routeBackward(Tensor logits, Routing r, Tensor dGates, Tensor dAux) {
        String op = "moe.routeBackward";
        Config c = r.config();
        int n = checkLogits(op, logits, c);
        if (n != r.tokens())
            throw new IllegalArgumentException(op + ": logits have " + n + " tokens, the routing " + r.tokens());
        if (dGates == null
                || dGates.dtype() != DType.F32
                || dGates.ndim() != 2
                || dGates.size(0) != n
                || dGates.size(1) != c.topK()) {
            throw new IllegalArgumentException(op + ": dGates must be f32 [" + n + ", " + c.topK() + "], got "
                    + (dGates == null ? "null" : dGates.describe()));
        }
        if (dAux != null && (dAux.dtype() != DType.F32 || dAux.numel() != 1)) {
            throw new IllegalArgumentException(op + ": dAux must be one f32 value, got " + dAux.describe());
        }
        lc.onDevice(op, "logits", logits);
        lc.onDevice(op, "dGates", dGates);
        if (dAux != null) lc.onDevice(op, "dAux", dAux);
        Tensor lg = lc.contiguous(logits), dg = lc.contiguous(dGates);
        Tensor dl = lc.empty(logits.dtype(), n, c.experts());
        float auxScale = (float) (c.auxLossCoef() * c.experts() / ((double) n * n));
        kernel("moe_route_bwd")
                .launch(
                        lc.stream(),
                        warpBlocks(n),
                        1,
                        1,
                        256,
                        0,
                        lc.ptr(lg, op),
                        lg.dtype() == DType.BF16 ? 1 : 0,
                        lc.ptr(r.experts(), op),
                        lc.ptr(dg, op),
                        lc.ptr(r.counts(), op),
                        lc.ptr(dAux, op),
                        lc.ptr(dl, op),
                        n,
                        c.experts(),
                        c.topK(),
                        c.gating() == Gating.SIGMOID ? 1 : 0,
                        c.normalizeTopK() ? 1 : 0,
                        auxScale);
        LaunchContext.release(lg, logits);
        LaunchContext.release(dg, dGates);
        return dl;
    }
}

package fulgur.dist.sp;

import fulgur.ops.attention.SoftmaxAttentionOp;
import fulgur.ops.lightning.Lightning;
import fulgur.ops.lightning.LightningAttentionOp;
import fulgur.tensor.Device;
import fulgur.tensor.Tensor;

/**
 * Sequence-parallel attention for tensors on an accelerator: the exchange and the chunked kernels of LASP, LASP-2
 * and LASP-2H run on host tensors, so q, k and v go to the host and the output comes back (both moves are recorded
 * by autograd, so gradients take the same way back). Correct on any device; the device-resident form, with the
 * states exchanged in device memory, is future work — on GPUs this costs two transfers of q, k, v and o per layer.
 */
final class HostStaged {
    private HostStaged() {}

    static LightningAttentionOp lightning(LightningAttentionOp onHost) {
        return new LightningAttentionOp() {
            @Override
            public Tensor apply(Tensor q, Tensor k, Tensor v, double[] slopes, double scale) {
                if (q.device().kind() == Device.Kind.CPU) {
                    return onHost.apply(q, k, v, slopes, scale);
                }
                return onHost.apply(host(q), host(k), host(v), slopes, scale).to(q.device());
            }

            /** The states take the same way: the initial one to the host, the final one back. */
            @Override
            public Lightning.Result applyWithStates(
                    Tensor q,
                    Tensor k,
                    Tensor v,
                    double[] slopes,
                    double scale,
                    Tensor initialState,
                    boolean wantFinalState) {
                if (q.device().kind() == Device.Kind.CPU) {
                    return onHost.applyWithStates(q, k, v, slopes, scale, initialState, wantFinalState);
                }
                Lightning.Result r = onHost.applyWithStates(
                        host(q),
                        host(k),
                        host(v),
                        slopes,
                        scale,
                        initialState == null ? null : host(initialState),
                        wantFinalState);
                return new Lightning.Result(
                        r.output().to(q.device()),
                        r.finalState() == null ? null : r.finalState().to(q.device()));
            }
        };
    }

    static SoftmaxAttentionOp softmax(SoftmaxAttentionOp onHost) {
        return (q, k, v, scale, causal) -> {
            if (q.device().kind() == Device.Kind.CPU) {
                return onHost.apply(q, k, v, scale, causal);
            }
            return onHost.apply(host(q), host(k), host(v), scale, causal).to(q.device());
        };
    }

    /** On the host in f32 or f64 (the host kernels' types; bf16 activations are widened there). */
    private static Tensor host(Tensor t) {
        Tensor h = t.to(Device.CPU);
        return h.dtype() == fulgur.tensor.DType.F64 || h.dtype() == fulgur.tensor.DType.F32
                ? h
                : h.to(fulgur.tensor.DType.F32);
    }
}

package fulgur.eval;

import fulgur.autograd.GradMode;
import fulgur.models.CausalLM;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;

/** The log-probability a model gives a continuation after a context, summed over the continuation's tokens. */
final class LogLikelihood {
    private LogLikelihood() {}

    /** {@code log p(continuation | context)} in nats; {@code context} holds at least one token. */
    static double of(CausalLM model, int[] context, int[] continuation) {
        if (context.length == 0) {
            throw new IllegalArgumentException("the context needs at least one token");
        }
        if (continuation.length == 0) {
            return 0;
        }
        int n = context.length + continuation.length - 1;
        int[] ids = new int[n];
        System.arraycopy(context, 0, ids, 0, context.length);
        System.arraycopy(continuation, 0, ids, context.length, continuation.length - 1);
        int vocab = model.vocabSize();
        for (int id : ids) {
            check(id, vocab);
        }
        for (int id : continuation) {
            check(id, vocab);
        }
        try (var g = GradMode.noGrad();
                Scope s = Scope.open("loglikelihood")) {
            Tensor logits =
                    model.forward(Tensor.ofInts(ids, 1, n).to(model.module().device()));
            int first = context.length - 1;
            float[] rows = logits.reshape(n, vocab)
                    .narrow(0, first, continuation.length)
                    .contiguous()
                    .toFloatArray();
            double sum = 0;
            for (int i = 0; i < continuation.length; i++) {
                sum += logSoftmaxAt(rows, i * vocab, vocab, continuation[i]);
            }
            return sum;
        }
    }

    static double logSoftmaxAt(float[] row, int off, int n, int target) {
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < n; j++) {
            max = Math.max(max, row[off + j]);
        }
        double sum = 0;
        for (int j = 0; j < n; j++) {
            sum += Math.exp(row[off + j] - max);
        }
        return row[off + target] - max - Math.log(sum);
    }

    private static void check(int id, int vocab) {
        if (id < 0 || id >= vocab) {
            throw new IllegalArgumentException("token id " + id + " is outside the model's vocabulary of " + vocab);
        }
    }
}

package fulgur.eval;

import fulgur.autograd.GradMode;
import fulgur.data.Batch;
import fulgur.data.Mqar;
import fulgur.models.CausalLM;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;

/** MQAR recall accuracy of a trained model on held-out sequences of a given configuration. */
public final class MqarRecall {
    private MqarRecall() {}

    /**
     * The accuracy over {@code examples} sequences generated from {@code seed}, read {@code batch} at a time.
     *
     * @param model the model
     * @param config the MQAR task
     * @param examples the sequences to evaluate
     * @param batch sequences per forward
     * @param seed the seed of the sequences
     * @return the fraction of queried keys whose value came back, in [0, 1]
     * @throws IllegalArgumentException when the task's vocabulary exceeds the model's
     */
    public static double accuracy(CausalLM model, Mqar.Config config, int examples, int batch, long seed) {
        if (config.vocabSize() > model.vocabSize()) {
            throw new IllegalArgumentException(
                    "MQAR vocabulary " + config.vocabSize() + " is larger than the model's " + model.vocabSize());
        }
        Mqar task = new Mqar(config);
        double correct = 0;
        int seen = 0;
        boolean was = model.module().isTraining();
        model.module().train(false);
        try (var g = GradMode.noGrad()) {
            while (seen < examples) {
                int n = Math.min(batch, examples - seen);
                Batch b = task.generate(seed, seen, n);
                try (Scope s = Scope.open("mqar eval")) {
                    Tensor logits = model.forward(Tensor.ofInts(b.inputs(), b.batch(), b.seqLen())
                            .to(model.module().device()));
                    correct += Mqar.accuracy(b, logits.toFloatArray(), model.vocabSize()) * n;
                }
                seen += n;
            }
        } finally {
            model.module().train(was);
        }
        return correct / examples;
    }
}

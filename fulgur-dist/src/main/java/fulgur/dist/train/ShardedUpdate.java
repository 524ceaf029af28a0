package fulgur.dist.train;

import fulgur.autograd.Autograd;
import fulgur.dist.ProcessGroup;
import fulgur.dist.zero.ShardedAdamW;
import fulgur.models.CausalLM;
import fulgur.optim.ParamGroup;
import fulgur.tensor.DType;
import fulgur.tensor.Tensor;
import fulgur.train.Checkpoint;
import fulgur.train.TrainConfig;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.DoubleConsumer;

/**
 * ZeRO over the whole world ({@link ShardedAdamW}): every rank holds whole parameters but only its slices of the
 * optimizer state (stage 1) and of the gradients (stage 2). Checkpoints gather the masters and moments back under
 * the unsharded names, so they are the files an unsharded run writes, and either kind of run resumes the other's.
 */
final class ShardedUpdate implements ParameterUpdate {
    private final ProcessGroup world;
    private final CausalLM model;
    private final DType precision;
    private final ShardedAdamW zero;

    ShardedUpdate(
            ProcessGroup world,
            CausalLM model,
            TrainConfig cfg,
            long bucketElements,
            DType precision,
            ShardedAdamW.Stage stage) {
        this.world = world;
        this.model = model;
        this.precision = precision;
        this.zero = new ShardedAdamW(
                ParamGroup.decayAndNoDecay(model.module(), cfg.weightDecay()),
                world,
                stage,
                bucketElements,
                cfg.beta1(),
                cfg.beta2(),
                cfg.eps(),
                precision);
    }

    @Override
    public void zeroGrad() {
        zero.zeroGrad();
    }

    @Override
    public void backward(Tensor loss, boolean lastMicroBatch, Autograd.Free free) {
        zero.backward(loss, lastMicroBatch, free);
    }

    @Override
    public double step(double lr, double gradClip, DoubleConsumer beforeUpdate) {
        return zero.step(lr, gradClip, beforeUpdate);
    }

    @Override
    public void save(Path dir, String configJson, Map<String, Object> trainerState, List<Path> companions)
            throws IOException {
        Map<String, Tensor> weights = precision == null ? model.module().stateDict() : zero.gatherMasters();
        Map<String, Tensor> state = zero.gatherState();
        if (world.rank() == 0) {
            Checkpoint.save(
                    dir,
                    weights,
                    configJson,
                    new FixedState(state, zero.stepCount()),
                    trainerState,
                    Map.of(),
                    companions);
        }
    }

    @Override
    public void load(Path dir, Map<String, Object> trainerState) throws IOException {
        Checkpoint.loadOptimizer(dir, new FixedState(zero::loadState), String.valueOf(trainerState.get("step")));
    }

    @Override
    public Map<String, Object> describe() {
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("update", "zero");
        d.put("zero", zero.stage().level());
        return d;
    }

    @Override
    public void close() {
        zero.close();
    }
}

package fulgur.models.tnl;

import com.fasterxml.jackson.databind.node.ObjectNode;
import fulgur.io.Json;
import fulgur.models.Architecture;
import fulgur.models.LanguageModel;
import fulgur.tensor.DType;
import java.io.IOException;
import java.util.List;

/** TransNormerLLM (OpenNLPLab's Hugging Face layout; our parameter names are theirs). */
public final class TnlArchitecture implements Architecture {

    /** The service instance that {@link fulgur.models.Architectures} loads. */
    public TnlArchitecture() {}

    /** The official code's token ids when a config leaves them out (TransnormerConfig's defaults). */
    private static final int PAD = 0, BOS = 1, EOS = 2;

    @Override
    public String name() {
        return "tnl";
    }

    @Override
    public String title() {
        return "TransNormerLLM";
    }

    @Override
    public List<String> modelTypes() {
        return List.of("transnormer");
    }

    @Override
    public String smallConfig(int vocab, int dim, int layers, int heads) {
        if (dim <= 0 || layers <= 0 || heads <= 0 || dim % heads != 0) {
            throw new IllegalArgumentException(
                    "TNL needs a width that is a positive multiple of the heads and positive layers (got width " + dim
                            + ", heads " + heads + ", layers " + layers + ")");
        }
        return TnlConfig.small(vocab, dim, layers, heads).validate().toJson();
    }

    @Override
    public LanguageModel build(String configJson, long seed) {
        return new TnlModel(TnlConfig.parse(configJson), seed);
    }

    /**
     * Our config.json plus what loading through the official code expects: {@code architectures} and {@code auto_map}
     * (its classes, for AutoModelForCausalLM with trust_remote_code), {@code torch_dtype}, the pad/bos/eos ids (the
     * official defaults where ours are unset) and the per-layer {@code linear_use_lrpe_list}.
     */
    @Override
    public String referenceConfig(String configJson, DType dtype) {
        TnlConfig c = TnlConfig.parse(configJson);
        try {
            ObjectNode n = (ObjectNode) Json.mapper().readTree(c.toJson());
            n.putArray("architectures").add("TransnormerForCausalLM");
            ObjectNode auto = n.putObject("auto_map");
            auto.put("AutoConfig", "configuration_transnormer.TransnormerConfig");
            auto.put("AutoModelForCausalLM", "modeling_transnormer.TransnormerForCausalLM");
            n.put("torch_dtype", fulgur.models.hf.ReferenceCheckpoint.torchDtype(dtype));
            n.put("pad_token_id", c.padTokenId() != null ? c.padTokenId() : PAD);
            n.put("bos_token_id", c.bosTokenId() != null ? c.bosTokenId() : BOS);
            n.put("eos_token_id", c.eosTokenId() != null ? c.eosTokenId() : EOS);
            var lrpe = n.putArray("linear_use_lrpe_list");
            for (int l = 0; l < c.layers(); l++) {
                lrpe.add(c.lrpe(l) ? 1 : 0);
            }
            return Json.mapper().writerWithDefaultPrettyPrinter().writeValueAsString(n);
        } catch (IOException e) {
            throw new IllegalStateException("cannot write the TransNormerLLM reference config", e);
        }
    }
}

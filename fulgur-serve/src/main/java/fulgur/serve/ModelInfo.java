package fulgur.serve;

/**
 * The served model as clients see it.
 *
 * @param id the model name clients put in requests (by default the model directory's name)
 * @param architecture the architecture's registry name (tnl, hgrn2, llama, ...)
 * @param configJson the model's config.json text
 * @param vocabSize logits per token
 * @param parameters parameter count
 * @param device where it runs (cpu, cuda:0)
 * @param maxContextTokens the longest prompt plus completion a request may ask for
 */
public record ModelInfo(
        String id,
        String architecture,
        String configJson,
        int vocabSize,
        long parameters,
        String device,
        int maxContextTokens) {}

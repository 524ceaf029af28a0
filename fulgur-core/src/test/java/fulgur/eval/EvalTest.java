package fulgur.eval;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.autograd.GradMode;
import fulgur.models.Architecture;
import fulgur.models.Architectures;
import fulgur.models.LanguageModel;
import fulgur.ops.Losses;
import fulgur.tensor.Tensor;
import fulgur.tokenizer.ByteTokenizer;
import fulgur.tokenizer.Tokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EvalTest {
    static final Tokenizer BYTES = ByteTokenizer.withEndOfText();
    static final String TEXT =
            "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\nThe slings and arrows. ";

    static LanguageModel model(String arch) {
        Architecture a = Architectures.byName(arch);
        String json = a.smallConfig(BYTES.vocabSize(), 16, 2, 2);
        return a.build(json, 3);
    }

    /** The summed next-token loss of {@code ids} in one whole forward pass (the reference the streaming must equal). */
    static double wholeLoss(LanguageModel m, int[] ids) {
        try (var g = GradMode.noGrad()) {
            int n = ids.length - 1;
            Tensor logits = m.forward(Tensor.ofInts(java.util.Arrays.copyOf(ids, n), 1, n));
            int[] targets = java.util.Arrays.copyOfRange(ids, 1, ids.length);
            return Losses.crossEntropy(logits.reshape(n, m.vocabSize()), Tensor.ofInts(targets, n))
                            .item()
                    * (double) n;
        }
    }

    static Iterator<Documents.Piece> pieces(String... texts) {
        return java.util.Arrays.stream(texts)
                .map(t -> new Documents.Piece(t, false))
                .iterator();
    }

    @Test
    void streamingThroughTheRecurrentStateEqualsOneWholePass() {
        for (String arch : List.of("tnl", "hgrn2")) {
            try (LanguageModel m = model(arch)) {
                int[] ids = BYTES.encode(TEXT);
                double whole = wholeLoss(m, ids);
                // the text cut in odd places and fed in chunks of 7 tokens
                Perplexity.Result r = Perplexity.evaluate(
                        m,
                        BYTES,
                        pieces(TEXT.substring(0, 13), TEXT.substring(13, 50), TEXT.substring(50)),
                        new Perplexity.Settings(7, 64),
                        null);
                assertThat(r.tokens()).isEqualTo(ids.length - 1);
                assertThat(r.nll())
                        .as(arch)
                        .isCloseTo(whole, org.assertj.core.api.Assertions.within(1e-4 * Math.abs(whole)));
                // bytes predicted: all but the first (no BOS), so bits per byte is the loss over those bytes
                assertThat(r.bytes()).isEqualTo(TEXT.length() - 1);
                assertThat(r.bitsPerByte())
                        .isCloseTo(
                                whole / Math.log(2) / (TEXT.length() - 1),
                                org.assertj.core.api.Assertions.within(1e-6));
                assertThat(r.perplexity())
                        .isCloseTo(Math.exp(whole / (ids.length - 1)), org.assertj.core.api.Assertions.within(1e-3));
            }
        }
    }

    @Test
    void softmaxLayersReadThroughASlidingWindow() {
        try (LanguageModel m = model("llama")) {
            int[] ids = BYTES.encode(TEXT);
            double whole = wholeLoss(m, ids);
            Perplexity.Result wide =
                    Perplexity.evaluate(m, BYTES, pieces(TEXT), new Perplexity.Settings(8, 1024), null);
            assertThat(wide.windowRebuilds()).isZero();
            assertThat(wide.nll()).isCloseTo(whole, org.assertj.core.api.Assertions.within(1e-4 * whole));
            Perplexity.Result narrow =
                    Perplexity.evaluate(m, BYTES, pieces(TEXT), new Perplexity.Settings(8, 24), null);
            assertThat(narrow.windowRebuilds()).isGreaterThan(0);
            assertThat(narrow.tokens()).isEqualTo(wide.tokens());
            // the first window's tokens see the same context either way: their losses agree, later ones differ
            assertThat(narrow.nll()).isNotCloseTo(whole, org.assertj.core.api.Assertions.within(1e-6));
            assertThat(Double.isFinite(narrow.nll())).isTrue();
        }
    }

    @Test
    void documentsAreReadLazilyInWholeLinesOrRecords(@TempDir Path dir) throws Exception {
        Path txt = dir.resolve("a.txt");
        String body = "line one\nline two is longer\n".repeat(50);
        Files.writeString(txt, body);
        StringBuilder back = new StringBuilder();
        int n = 0;
        try (Documents d = Documents.open(txt, "text", 40)) {
            while (d.hasNext()) {
                Documents.Piece p = d.next();
                assertThat(p.text()).endsWith("\n");
                assertThat(p.startsDocument()).isEqualTo(n == 0);
                back.append(p.text());
                n++;
            }
        }
        assertThat(back.toString()).isEqualTo(body);
        assertThat(n).isGreaterThan(10);
        Path jsonl = dir.resolve("b.jsonl");
        Files.writeString(jsonl, "{\"text\": \"first\"}\n\n{\"text\": \"second\"}\n");
        try (Documents d = Documents.open(jsonl, "text", 40)) {
            assertThat(d.next()).isEqualTo(new Documents.Piece("first", true));
            assertThat(d.next()).isEqualTo(new Documents.Piece("second", true));
            assertThat(d.hasNext()).isFalse();
        }
        Files.writeString(jsonl, "{\"body\": \"first\"}\n");
        try (Documents d = Documents.open(jsonl, "text", 40)) {
            assertThatThrownBy(d::hasNext).hasMessageContaining("b.jsonl:1: no string field \"text\"");
        }
    }

    @Test
    void choicesAreScoredByTheLogLikelihoodOfTheirTokens() {
        try (LanguageModel m = model("tnl")) {
            MultipleChoice.Task task = new MultipleChoice.Task("The sky is ", List.of("blue", "green"), 0);
            double[] ll = MultipleChoice.scores(m, BYTES, task);
            // by hand: EOS + "The sky is" then " blue" (the context's trailing space moves to the continuation)
            for (int c = 0; c < 2; c++) {
                int[] ctx = BYTES.encode("The sky is");
                int[] cont = BYTES.encode(" " + task.choices().get(c));
                int[] all = new int[1 + ctx.length + cont.length];
                all[0] = BYTES.eosId().getAsInt();
                System.arraycopy(ctx, 0, all, 1, ctx.length);
                System.arraycopy(cont, 0, all, 1 + ctx.length, cont.length);
                double expected;
                try (var g = GradMode.noGrad()) {
                    float[] logits =
                            m.forward(Tensor.ofInts(all, 1, all.length)).toFloatArray();
                    expected = 0;
                    for (int i = 0; i < cont.length; i++) {
                        int pos = ctx.length + i; // predicts all[pos + 1]
                        expected +=
                                LogLikelihood.logSoftmaxAt(logits, pos * m.vocabSize(), m.vocabSize(), all[pos + 1]);
                    }
                }
                assertThat(ll[c]).isCloseTo(expected, org.assertj.core.api.Assertions.within(1e-4));
            }
            MultipleChoice.Result r = MultipleChoice.evaluate(
                    m, BYTES, List.of(task, new MultipleChoice.Task("The sky is ", List.of("blue", "green"), 1)), null);
            // the same choices with either one as the answer: exactly one of the two tasks is answered right
            assertThat(r.accuracy()).isEqualTo(0.5);
            assertThat(r.tasks()).isEqualTo(2);
        }
    }

    @Test
    void passkeyPromptsHaveTheirLengthAndTheKeyAtItsDepth() {
        int[] intro = {1, 1};
        int[] filler = {2, 2, 2, 2};
        int[] needle = {9, 9, 9};
        int[] question = {5};
        int[] p = Passkey.prompt(intro, filler, needle, question, 46, 0.5);
        assertThat(p.length).isBetween(46 - filler.length + 1, 46);
        // 40 filler tokens = 10 sentences; the key after 5 of them
        assertThat(p[2 + 5 * 4]).isEqualTo(9);
        assertThat(Passkey.prompt(intro, filler, needle, question, 46, 0.0)[2]).isEqualTo(9);
        int[] end = Passkey.prompt(intro, filler, needle, question, 46, 1.0);
        assertThat(end[end.length - 2]).isEqualTo(9);
        assertThat(end[end.length - 1]).isEqualTo(5);
        assertThat(Passkey.firstNumber(" 12345. Rem")).isEqualTo("12345");
        assertThat(Passkey.firstNumber(" the key")).isEmpty();
    }

    @Test
    void passkeyCellsCountKeysFoundByGreedyDecoding() {
        try (LanguageModel m = model("tnl")) {
            var cells = Passkey.evaluate(
                    m, BYTES, new Passkey.Settings(List.of(300, 600), List.of(0.0, 1.0), 2, 5, 64, null), null);
            assertThat(cells).hasSize(4);
            for (var c : cells) {
                assertThat(c.trials()).isEqualTo(2);
                assertThat(c.correct()).isBetween(0, 2);
            }
        }
    }
}

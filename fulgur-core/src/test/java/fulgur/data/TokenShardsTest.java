package fulgur.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.io.MalformedFileException;
import fulgur.tokenizer.ByteTokenizer;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokenShardsTest {

    @TempDir
    Path dir;

    private Path writeShard(String name, int vocab, int[] tokens) throws IOException {
        Path f = dir.resolve(name);
        try (TokenShardWriter w = TokenShardWriter.create(f, vocab)) {
            w.append(tokens);
            w.finish();
        }
        return f;
    }

    @Test
    void roundTripsBothWidthsWithTheDocumentedHeader() throws IOException {
        Random r = new Random(1);
        for (int vocab : new int[] {65536, 50_000, 200_000}) {
            int[] tokens = r.ints(10_000, 0, vocab).toArray();
            tokens[0] = vocab - 1;
            Path f = writeShard("s" + vocab + ".fgtk", vocab, tokens);
            int width = vocab <= 65536 ? 2 : 4;
            assertThat(Files.size(f)).isEqualTo(32 + 10_000L * width);
            ByteBuffer h = ByteBuffer.wrap(Files.readAllBytes(f), 0, 32).order(ByteOrder.LITTLE_ENDIAN);
            assertThat(new String(Files.readAllBytes(f), 0, 4, java.nio.charset.StandardCharsets.US_ASCII))
                    .isEqualTo("FGTK");
            assertThat(h.getInt(4)).isEqualTo(1);
            assertThat(h.getInt(8)).isEqualTo(width);
            assertThat(h.getInt(12)).isEqualTo(vocab);
            assertThat(h.getLong(16)).isEqualTo(10_000);
            try (TokenShardReader rd = TokenShardReader.open(f, vocab)) {
                assertThat(rd.size()).isEqualTo(10_000);
                assertThat(rd.tokenBytes()).isEqualTo(width);
                assertThat(rd.get(0)).isEqualTo(vocab - 1);
                assertThat(rd.get(9_999)).isEqualTo(tokens[9_999]);
                int[] out = new int[500];
                rd.read(1234, out, 0, 500);
                assertThat(out).containsExactly(Arrays.copyOfRange(tokens, 1234, 1734));
                assertThatThrownBy(() -> rd.get(10_000)).isInstanceOf(IndexOutOfBoundsException.class);
            }
        }
    }

    @Test
    void writerValidatesTokensAndPublishesNothingUnlessFinished() throws IOException {
        Path f = dir.resolve("w.fgtk");
        try (TokenShardWriter w = TokenShardWriter.create(f, 100)) {
            w.append(5);
            assertThatThrownBy(() -> w.append(100))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("token 1 is 100")
                    .hasMessageContaining("< 100");
            assertThatThrownBy(() -> w.append(new int[] {1, -3}))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("token 2 is -3");
            assertThat(w.count()).isEqualTo(1);
        }
        assertThat(f).doesNotExist();
        try (var s = Files.list(dir)) {
            assertThat(s.count()).as("no temporary file left behind").isZero();
        }
        assertThatThrownBy(() -> TokenShardWriter.create(f, 2, 70_000))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("at most 65536");
        assertThatThrownBy(() -> TokenShardWriter.create(f, 3, 10))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("2 or 4");
    }

    private Path corrupt(String name, java.util.function.Consumer<ByteBuffer> edit, int truncateBy) throws IOException {
        Path good = writeShard("good-" + name, 1000, new int[] {1, 2, 3, 999});
        byte[] bytes = Files.readAllBytes(good);
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        edit.accept(b);
        Path f = dir.resolve(name);
        Files.write(f, Arrays.copyOf(bytes, bytes.length - truncateBy));
        return f;
    }

    @Test
    void corruptShardsAreRejectedWithClearErrors() throws IOException {
        Path magic = corrupt("magic.fgtk", b -> b.put(0, (byte) 'X'), 0);
        assertThatThrownBy(() -> TokenShardReader.open(magic))
                .isInstanceOf(MalformedFileException.class)
                .hasMessageStartingWith(magic.toString())
                .hasMessageContaining("bad magic \"XGTK\"")
                .hasMessageContaining("expected \"FGTK\"");
        Path truncated = corrupt("trunc.fgtk", b -> {}, 3);
        assertThatThrownBy(() -> TokenShardReader.open(truncated))
                .isInstanceOf(MalformedFileException.class)
                .hasMessageContaining("promises 4 tokens of 2 bytes but 5 bytes")
                .hasMessageContaining("truncated");
        Path version = corrupt("ver.fgtk", b -> b.putInt(4, 7), 0);
        assertThatThrownBy(() -> TokenShardReader.open(version))
                .isInstanceOf(MalformedFileException.class)
                .hasMessageContaining("version 7");
        Path width = corrupt("width.fgtk", b -> b.putInt(8, 3), 0);
        assertThatThrownBy(() -> TokenShardReader.open(width))
                .isInstanceOf(MalformedFileException.class)
                .hasMessageContaining("token width 3");
        Path tiny = dir.resolve("tiny.fgtk");
        Files.write(tiny, new byte[] {'F', 'G'});
        assertThatThrownBy(() -> TokenShardReader.open(tiny))
                .isInstanceOf(MalformedFileException.class)
                .hasMessageContaining("shorter than the 32-byte");
        Path good = writeShard("bound.fgtk", 0xFFFF, new int[] {1, 2, 3, 999});
        assertThatThrownBy(() -> TokenShardReader.open(good, 500))
                .isInstanceOf(MalformedFileException.class)
                .hasMessageContaining("larger than the expected 500");
        // a shard without a recorded vocabulary is checked token by token against the bound
        Path unrecorded = dir.resolve("unrecorded.fgtk");
        try (TokenShardWriter w = TokenShardWriter.create(unrecorded, 4, 0)) {
            w.append(new int[] {1, 2, 600, 3});
            w.finish();
        }
        assertThatThrownBy(() -> TokenShardReader.open(unrecorded, 500))
                .isInstanceOf(MalformedFileException.class)
                .hasMessageContaining("token 2 is 600, expected 0 <= token < 500");
        try (TokenShardReader r = TokenShardReader.open(unrecorded, 601)) {
            assertThat(r.get(2)).isEqualTo(600);
        }
    }

    @Test
    void aDirectoryOfShardsIsOneStream() throws IOException {
        Path d = dir.resolve("shards");
        int[] tokens = new Random(3).ints(50, 0, 300).toArray();
        List<Path> files;
        try (TokenShards.Writer w = TokenShards.writer(d, "part", 300, 7)) {
            w.append(Arrays.copyOfRange(tokens, 0, 20));
            w.append(Arrays.copyOfRange(tokens, 20, 50));
            files = w.finish();
        }
        assertThat(files).hasSize(8);
        assertThat(files.getFirst().getFileName().toString()).isEqualTo("part-000000.fgtk");
        try (TokenShards s = TokenShards.open(d, 300)) {
            assertThat(s.size()).isEqualTo(50);
            for (int i = 0; i < 50; i++) {
                assertThat(s.get(i)).isEqualTo(tokens[i]);
            }
            int[] out = new int[30];
            s.read(5, out, 0, 30);
            assertThat(out).containsExactly(Arrays.copyOfRange(tokens, 5, 35));
            assertThat(s.toArray(49, 1)).containsExactly(tokens[49]);
        }
        assertThatThrownBy(() -> TokenShards.open(dir.resolve("nothing"))).isInstanceOf(IOException.class);
    }

    @Test
    void tokenizingToShardsGivesTheSameStreamAsTheInMemoryCorpus() throws IOException {
        Path jsonl = dir.resolve("c.jsonl");
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 40; i++) {
            sb.append("{\"text\": \"document number ").append(i).append("\"}\n");
        }
        Files.writeString(jsonl, sb);
        ByteTokenizer tok = ByteTokenizer.withEndOfText();
        List<Path> shards =
                TokenShards.tokenize(List.of(jsonl), tok, TextCorpus.Options.defaults(), dir.resolve("out"), 400);
        assertThat(shards).isNotEmpty();
        TextCorpus mem = TextCorpus.load(jsonl, tok);
        try (TokenShards s = TokenShards.open(dir.resolve("out"), tok.vocabSize())) {
            assertThat(s.size()).isEqualTo(mem.size());
            assertThat(s.toArray(0, (int) s.size()))
                    .containsExactly(mem.tokens().toArray(0, (int) mem.size()));
        }
    }

    @Test
    void addressesBeyondTwoToTheThirtyOneTokens() throws IOException {
        // a sparse shard of 2^31 + 5 two-byte tokens (4 GiB of address space, almost no disk)
        long count = (1L << 31) + 5;
        Path big = dir.resolve("a-big.fgtk");
        try (FileChannel ch = FileChannel.open(big, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ch.write(TokenShardFormat.header(2, 0, count));
            ByteBuffer tail = ByteBuffer.allocate(10).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < 5; i++) {
                tail.putShort((short) (60_000 + i));
            }
            ch.write(tail.flip(), 32 + (count - 5) * 2);
        }
        writeShard("b-small.fgtk", 65536, new int[] {7, 8, 9});
        try (TokenShards s = TokenShards.open(dir)) {
            assertThat(s.size()).isEqualTo(count + 3);
            assertThat(s.get(count - 1)).isEqualTo(60_004);
            assertThat(s.get(count)).isEqualTo(7);
            assertThat(s.get(count + 2)).isEqualTo(9);
            assertThat(s.get(1L << 31)).isEqualTo(60_000);
            assertThat(s.toArray(count - 3, 6)).containsExactly(60_002, 60_003, 60_004, 7, 8, 9);
            assertThat(s.get(12345)).isZero();
            // a sampler window that straddles the 2^31 boundary and the shard boundary
            Batch b = PackedSequenceSampler.sequential(s.slice(count - 3, count + 3), 1, 4)
                    .next();
            assertThat(b.inputs()).containsExactly(60_002, 60_003, 60_004, 7);
            assertThat(b.targets()).containsExactly(60_003, 60_004, 7, 8);
            // random windows over the whole 2^31+ stream stay in range
            PackedSequenceSampler r = PackedSequenceSampler.random(s, 8, 16, 5);
            for (int i = 0; i < 10; i++) {
                assertThat(r.next().inputs()).hasSize(128);
            }
        }
    }
}

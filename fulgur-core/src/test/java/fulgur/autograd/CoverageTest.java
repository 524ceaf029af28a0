package fulgur.autograd;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;
import org.junit.jupiter.api.Test;

/** The interval form of slice coverage agrees with one flag per index, the form it replaces. */
class CoverageTest {

    @Property(tries = 300)
    void runsAndFullnessMatchOneFlagPerIndex(
            @ForAll @IntRange(min = 1, max = 40) int size,
            @ForAll @Size(max = 12) List<@IntRange(min = 0, max = 1000) Integer> cuts) {
        Coverage c = new Coverage(size);
        boolean[] flags = new boolean[size];
        for (int i = 0; i + 1 < cuts.size(); i += 2) {
            int a = cuts.get(i) % size, b = cuts.get(i + 1) % size;
            int start = Math.min(a, b), end = Math.max(a, b) + 1;
            assertThat(runs(c, start, end)).isEqualTo(flagRuns(flags, start, end));
            c.add(start, end);
            for (int j = start; j < end; j++) flags[j] = true;
            assertThat(runs(c, 0, size)).isEqualTo(flagRuns(flags, 0, size));
            boolean all = true;
            for (boolean f : flags) all &= f;
            assertThat(c.full()).isEqualTo(all);
        }
    }

    @Test
    void touchingRangesMergeIntoOneRun() {
        Coverage c = new Coverage(10);
        c.add(0, 4);
        c.add(6, 10);
        assertThat(runs(c, 0, 10)).containsExactly("0-4:true", "4-6:false", "6-10:true");
        assertThat(c.full()).isFalse();
        c.add(5, 5);
        assertThat(runs(c, 0, 10)).containsExactly("0-4:true", "4-6:false", "6-10:true");
        c.add(4, 6);
        assertThat(runs(c, 0, 10)).containsExactly("0-10:true");
        assertThat(c.full()).isTrue();
    }

    @Test
    void aLongAxisCostsWhatItsSlicesCost() {
        Coverage c = new Coverage(Integer.MAX_VALUE);
        c.add(0, 1 << 30);
        c.add(1 << 30, Integer.MAX_VALUE);
        assertThat(c.full()).isTrue();
    }

    private static List<String> runs(Coverage c, int start, int end) {
        List<String> out = new ArrayList<>();
        c.forEachRun(start, end, (from, to, written) -> out.add(from + "-" + to + ":" + written));
        return out;
    }

    private static List<String> flagRuns(boolean[] flags, int start, int end) {
        List<String> out = new ArrayList<>();
        for (int i = start; i < end; ) {
            int j = i;
            while (j < end && flags[j] == flags[i]) j++;
            out.add(i + "-" + j + ":" + flags[i]);
            i = j;
        }
        return out;
    }
}

package fulgur.avvp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

class AvvpMetricsTest {
    private static final double EPS = 1e-12;

    private static EventGrid grid(int classes, int[]... events) {
        EventGrid g = new EventGrid(10, classes);
        for (int[] e : events) {
            g.fill(e[0], e[1], e[2]);
        }
        return g;
    }

    /**
     * Truth: audio class 0 on [0,4), class 1 on [6,10); visual class 0 on [2,6). Predictions: audio class 0 on [0,3),
     * class 2 on [5,7); visual class 0 on [2,6). Every number below is counted by hand.
     */
    @Test
    void aHandCountedVideo() {
        AvvpMetrics m = new AvvpMetrics();
        m.add(
                grid(3, new int[] {0, 0, 3}, new int[] {2, 5, 7}),
                grid(3, new int[] {0, 2, 6}),
                grid(3, new int[] {0, 0, 4}, new int[] {1, 6, 10}),
                grid(3, new int[] {0, 2, 6}));
        AvvpMetrics.Scores s = m.scores();
        // segments, audio: class 0 TP 3 FN 1 -> 6/7; class 1 FN 4 -> 0; class 2 FP 2 -> 0
        assertThat(s.segment().audio()).isCloseTo((6.0 / 7) / 3, within(EPS));
        assertThat(s.segment().visual()).isCloseTo(1.0, within(EPS));
        // audio-visual: truth [0,4)∧[2,6) = [2,4), prediction [0,3)∧[2,6) = [2,3): TP 1, FN 1 -> 2/3
        assertThat(s.segment().audioVisual()).isCloseTo(2.0 / 3, within(EPS));
        // pooled A+V: class 0 TP 7 FN 1 -> 14/15; classes 1 and 2 -> 0
        assertThat(s.segment().eventAv()).isCloseTo((14.0 / 15) / 3, within(EPS));
        assertThat(s.segment().typeAv()).isCloseTo(((6.0 / 7) / 3 + 1 + 2.0 / 3) / 3, within(EPS));
        // events, audio: [0,3) vs [0,4) has IoU 3/4 -> TP; [6,10) unmatched -> FN; [5,7) spurious -> FP
        assertThat(s.event().audio()).isCloseTo(1.0 / 3, within(EPS));
        assertThat(s.event().visual()).isCloseTo(1.0, within(EPS));
        // audio-visual: [2,3) vs [2,4): IoU exactly 1/2 counts as a match
        assertThat(s.event().audioVisual()).isCloseTo(1.0, within(EPS));
        assertThat(s.event().eventAv()).isCloseTo(1.0 / 3, within(EPS));
        assertThat(s.videos()).isEqualTo(1);
    }

    @Test
    void aVideoWithNothingPredictedOrPresentScoresOne() {
        AvvpMetrics m = new AvvpMetrics();
        m.add(grid(4), grid(4), grid(4), grid(4));
        AvvpMetrics.Scores s = m.scores();
        for (AvvpMetrics.Level l : new AvvpMetrics.Level[] {s.segment(), s.event()}) {
            assertThat(new double[] {l.audio(), l.visual(), l.audioVisual(), l.eventAv(), l.typeAv()})
                    .containsOnly(1.0);
        }
    }

    @Test
    void eventsMatchOnlyAtIouOfAtLeastOneHalfAndRunsAreMaximal() {
        // IoU 2/5 < 1/2: one FP and one FN at the event level, while segments give TP 2, FN 3
        AvvpMetrics below = new AvvpMetrics();
        below.add(grid(1, new int[] {0, 0, 2}), grid(1), grid(1, new int[] {0, 0, 5}), grid(1));
        assertThat(below.scores().event().audio()).isZero();
        assertThat(below.scores().segment().audio()).isCloseTo(4.0 / 7, within(EPS));
        // one predicted run over two true runs: IoU 2/6 with each, so 1 FP and 2 FN
        AvvpMetrics merged = new AvvpMetrics();
        merged.add(grid(1, new int[] {0, 0, 6}), grid(1), grid(1, new int[] {0, 0, 2}, new int[] {0, 4, 6}), grid(1));
        assertThat(merged.scores().event().audio()).isZero();
        // split prediction [0,2)+[3,5) of the true [0,5): each IoU 2/5, no match
        int[][] counts =
                AvvpMetrics.eventLevel(grid(1, new int[] {0, 0, 2}, new int[] {0, 3, 5}), grid(1, new int[] {0, 0, 5}));
        assertThat(counts[0]).containsExactly(0, 2, 1);
        // an event touching the last segment is one run
        assertThat(grid(1, new int[] {0, 7, 10}).events(0))
                .singleElement()
                .satisfies(e -> assertThat(e).containsExactly(7, 10));
    }

    @Test
    void theSetScoreIsTheMeanOverVideos() {
        AvvpMetrics m = new AvvpMetrics();
        m.add(
                grid(2, new int[] {0, 0, 10}),
                grid(2),
                grid(2, new int[] {0, 0, 10}),
                grid(2)); // audio 1, visual 1 (none), AV 1 (none)
        m.add(grid(2, new int[] {1, 0, 10}), grid(2), grid(2, new int[] {0, 0, 10}), grid(2)); // audio 0
        AvvpMetrics.Scores s = m.scores();
        assertThat(s.segment().audio()).isCloseTo(0.5, within(EPS));
        assertThat(s.segment().visual()).isCloseTo(1.0, within(EPS));
        assertThat(s.segment().eventAv()).isCloseTo(0.5, within(EPS));
        assertThat(s.videos()).isEqualTo(2);
    }
}

package fulgur.avvp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

class SyntheticAvvpTest {

    private static SyntheticAvvp task() {
        return new SyntheticAvvp(
                SyntheticAvvp.Settings.defaults(5).withDims(8, 12, 6).withSizes(400, 50, 300));
    }

    @Test
    void videosArePureFunctionsOfSeedSplitAndIndex() {
        AvvpVideo a = task().video(SyntheticAvvp.Split.TRAIN, 17);
        AvvpVideo b = task().video(SyntheticAvvp.Split.TRAIN, 17);
        assertThat(b.audio()).containsExactly(a.audio());
        assertThat(b.audioPseudo()).isEqualTo(a.audioPseudo());
        assertThat(task().video(SyntheticAvvp.Split.TEST, 17).audio()).isNotEqualTo(a.audio());
        assertThat(SyntheticAvvp.fromSpec(task().spec())).isEqualTo(task().settings());
        assertThat(task().classes().names()).isEqualTo(AvvpClasses.LLP);
    }

    @Test
    void plantsAudioOnlyVisualOnlyAndAudioVisualEventsThatOverlap() {
        AvvpDataset test = task().split(SyntheticAvvp.Split.TEST);
        int audioOnly = 0, visualOnly = 0, both = 0, overlapping = 0;
        for (int i = 0; i < test.size(); i++) {
            AvvpVideo v = test.get(i);
            assertThat(v.audioPseudo()).isNull();
            boolean[] a = v.audioTruth().presence();
            boolean[] vis = v.visualTruth().presence();
            for (int c = 0; c < a.length; c++) {
                assertThat(v.labels()[c]).isEqualTo(a[c] || vis[c]);
                audioOnly += a[c] && !vis[c] ? 1 : 0;
                visualOnly += !a[c] && vis[c] ? 1 : 0;
                both += a[c] && vis[c] ? 1 : 0;
            }
            overlapping += v.hasOverlappingEvents() ? 1 : 0;
        }
        int events = audioOnly + visualOnly + both;
        assertThat((double) both / events).isCloseTo(0.5, within(0.07));
        assertThat((double) audioOnly / events).isCloseTo(0.25, within(0.06));
        assertThat((double) visualOnly / events).isCloseTo(0.25, within(0.06));
        assertThat(overlapping).isBetween(test.size() / 4, 3 * test.size() / 4);
    }

    @Test
    void pseudoLabelsErrAtTheConfiguredRatesWithinTheVideoLabels() {
        SyntheticAvvp.Settings s = task().settings();
        AvvpDataset train = task().split(SyntheticAvvp.Split.TRAIN);
        // the same videos with exact pseudo labels (the error draws are made either way, so everything else is equal)
        SyntheticAvvp exact = new SyntheticAvvp(new SyntheticAvvp.Settings(
                s.seed(),
                s.classes(),
                s.segments(),
                s.audioDim(),
                s.visualDim(),
                s.motionDim(),
                s.trainVideos(),
                s.valVideos(),
                s.testVideos(),
                s.signal(),
                s.background(),
                s.noise(),
                0,
                0));
        int positives = 0, kept = 0, negatives = 0, falseAlarms = 0;
        for (int i = 0; i < train.size(); i++) {
            AvvpVideo v = train.get(i);
            AvvpVideo truth = exact.video(SyntheticAvvp.Split.TRAIN, i);
            assertThat(truth.audio()).containsExactly(v.audio());
            for (int t = 0; t < v.segments(); t++) {
                for (int c = 0; c < v.labels().length; c++) {
                    if (!v.labels()[c]) {
                        assertThat(v.audioPseudo().get(t, c) || v.visualPseudo().get(t, c))
                                .isFalse();
                    } else if (truth.audioPseudo().get(t, c)) {
                        positives++;
                        kept += v.audioPseudo().get(t, c) ? 1 : 0;
                    } else {
                        negatives++;
                        falseAlarms += v.audioPseudo().get(t, c) ? 1 : 0;
                    }
                }
            }
        }
        assertThat(1 - (double) kept / positives).isCloseTo(s.pseudoMiss(), within(0.02));
        assertThat((double) falseAlarms / negatives).isCloseTo(s.pseudoFalse(), within(0.02));
    }
}

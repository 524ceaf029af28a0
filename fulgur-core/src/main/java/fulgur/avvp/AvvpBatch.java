package fulgur.avvp;

import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Tensor;
import java.util.List;
import java.util.function.Function;

/** A batch of videos of one size (segments, classes, feature sizes), as tensors on demand. */
public final class AvvpBatch {
    private final List<AvvpVideo> videos;
    private final int segments;
    private final int classes;
    private final AvvpDataset.Dims dims;

    private AvvpBatch(List<AvvpVideo> videos, int segments, int classes, AvvpDataset.Dims dims) {
        this.videos = videos;
        this.segments = segments;
        this.classes = classes;
        this.dims = dims;
    }

    public static AvvpBatch of(List<AvvpVideo> videos) {
        if (videos.isEmpty()) {
            throw new IllegalArgumentException("an AVVP batch needs at least one video");
        }
        AvvpVideo first = videos.get(0);
        int t = first.segments();
        AvvpDataset.Dims dims =
                new AvvpDataset.Dims(first.audio().length / t, first.visual().length / t, first.motion().length / t);
        for (AvvpVideo v : videos) {
            if (v.segments() != t
                    || v.labels().length != first.labels().length
                    || v.audio().length != first.audio().length
                    || v.visual().length != first.visual().length
                    || v.motion().length != first.motion().length) {
                throw new IllegalArgumentException("videos " + first.name() + " and " + v.name()
                        + " differ in segments, classes or feature sizes");
            }
        }
        return new AvvpBatch(List.copyOf(videos), t, first.labels().length, dims);
    }

    public List<AvvpVideo> videos() {
        return videos;
    }

    public int size() {
        return videos.size();
    }

    public int segments() {
        return segments;
    }

    public int classes() {
        return classes;
    }

    public AvvpDataset.Dims dims() {
        return dims;
    }

    /** Audio features [B, T, audio]. */
    public Tensor audio(DType dtype, Device device) {
        return stack(AvvpVideo::audio, dims.audio(), dtype, device);
    }

    /** Visual (frame) features [B, T, visual]. */
    public Tensor visual(DType dtype, Device device) {
        return stack(AvvpVideo::visual, dims.visual(), dtype, device);
    }

    /** Motion (clip) features [B, T, motion]. */
    public Tensor motion(DType dtype, Device device) {
        return stack(AvvpVideo::motion, dims.motion(), dtype, device);
    }

    /** Video-level labels [B, C]. */
    public Tensor videoLabels(DType dtype, Device device) {
        float[] f = new float[videos.size() * classes];
        for (int b = 0; b < videos.size(); b++) {
            boolean[] l = videos.get(b).labels();
            for (int c = 0; c < classes; c++) {
                f[b * classes + c] = l[c] ? 1 : 0;
            }
        }
        return upload(f, dtype, device, videos.size(), classes);
    }

    /** Segment targets [B, T, C] of the audio (pseudo labels, else the video labels on every segment). */
    public Tensor audioSegmentTargets(DType dtype, Device device) {
        return grids(AvvpVideo::audioTargets, dtype, device);
    }

    public Tensor visualSegmentTargets(DType dtype, Device device) {
        return grids(AvvpVideo::visualTargets, dtype, device);
    }

    /** Modality-level targets [B, C]: the classes present in the audio segment targets. */
    public Tensor audioVideoTargets(DType dtype, Device device) {
        return presence(AvvpVideo::audioTargets, dtype, device);
    }

    public Tensor visualVideoTargets(DType dtype, Device device) {
        return presence(AvvpVideo::visualTargets, dtype, device);
    }

    private Tensor stack(Function<AvvpVideo, float[]> f, int dim, DType dtype, Device device) {
        int n = segments * dim;
        float[] all = new float[videos.size() * n];
        for (int b = 0; b < videos.size(); b++) {
            System.arraycopy(f.apply(videos.get(b)), 0, all, b * n, n);
        }
        return upload(all, dtype, device, videos.size(), segments, dim);
    }

    private Tensor grids(Function<AvvpVideo, EventGrid> f, DType dtype, Device device) {
        int n = segments * classes;
        float[] all = new float[videos.size() * n];
        for (int b = 0; b < videos.size(); b++) {
            System.arraycopy(f.apply(videos.get(b)).toFloats(), 0, all, b * n, n);
        }
        return upload(all, dtype, device, videos.size(), segments, classes);
    }

    private Tensor presence(Function<AvvpVideo, EventGrid> f, DType dtype, Device device) {
        float[] all = new float[videos.size() * classes];
        for (int b = 0; b < videos.size(); b++) {
            boolean[] p = f.apply(videos.get(b)).presence();
            for (int c = 0; c < classes; c++) {
                all[b * classes + c] = p[c] ? 1 : 0;
            }
        }
        return upload(all, dtype, device, videos.size(), classes);
    }

    static Tensor upload(float[] values, DType dtype, Device device, int... shape) {
        Tensor t = Tensor.of(values, shape);
        if (dtype != DType.F32) {
            t = t.to(dtype);
        }
        return device.kind() == Device.Kind.CPU ? t : t.to(device);
    }
}

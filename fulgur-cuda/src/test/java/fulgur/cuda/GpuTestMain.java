package fulgur.cuda;

import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectMethod;

import java.io.PrintWriter;
import java.util.List;
import org.junit.platform.engine.DiscoverySelector;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;

/**
 * Runs fulgur-cuda's tests (CPU and GPU) without Maven, for GPU hosts that only have a Java runtime:
 * {@code java -cp 'jars/*' fulgur.cuda.GpuTestMain [class or class#method ...]}. Exit status 1 when a test failed.
 * Each test's start is printed; a test that runs longer than {@code -Dfulgur.test.timeoutSeconds} (default 180) has
 * every thread's stack printed and ends the run with status 3, so a hang on a remote machine still says where it was.
 */
public final class GpuTestMain {
    public static void main(String[] args) {
        List<String> classes = args.length > 0
                ? List.of(args)
                : List.of(
                        "fulgur.cuda.KernelSignatureTest",
                        "fulgur.cuda.KernelCacheTest",
                        "fulgur.cuda.CachingAllocatorTest",
                        "fulgur.cuda.CudaRuntimeGpuTest",
                        "fulgur.cuda.cublas.LtGemmGpuTest",
                        "fulgur.cuda.ops.lightning.LightningAttentionTest",
                        "fulgur.cuda.ops.lightning.LightningAttentionGpuTest");
        List<DiscoverySelector> sel = classes.stream()
                .map(c -> c.contains("#") ? (DiscoverySelector) selectMethod(c) : selectClass(c))
                .toList();
        LauncherDiscoveryRequest req =
                LauncherDiscoveryRequestBuilder.request().selectors(sel).build();
        Launcher launcher = LauncherFactory.create();
        SummaryGeneratingListener summary = new SummaryGeneratingListener();
        TestWatchdog watchdog = TestWatchdog.start(Long.getLong("fulgur.test.timeoutSeconds", 180));
        TestExecutionListener printer = new TestExecutionListener() {
            @Override
            public void executionStarted(TestIdentifier id) {
                if (!id.isTest()) return;
                String name =
                        id.getDisplayName() + " (" + id.getUniqueId().replaceAll(".*class:fulgur\\.cuda\\.", "") + ")";
                watchdog.started(name);
                System.out.println("[START] " + name);
                System.out.flush();
            }

            @Override
            public void executionFinished(TestIdentifier id, TestExecutionResult r) {
                if (!id.isTest()) return;
                watchdog.finished();
                System.out.printf(
                        "[%s] %s%n",
                        r.getStatus(),
                        id.getDisplayName() + " ("
                                + id.getUniqueId()
                                        .replaceAll(".*class:fulgur\\.cuda\\.", "")
                                        .replaceAll("/\\[.*?:", " ")
                                        .replace("]", "")
                                + ")");
                r.getThrowable().ifPresent(t -> System.out.println("    " + t));
            }

            @Override
            public void executionSkipped(TestIdentifier id, String reason) {
                System.out.printf("[SKIPPED] %s: %s%n", id.getDisplayName(), reason);
            }
        };
        launcher.execute(req, summary, printer);
        PrintWriter w = new PrintWriter(System.out);
        summary.getSummary().printTo(w);
        summary.getSummary().printFailuresTo(w, 30);
        w.flush();
        System.exit(summary.getSummary().getTotalFailureCount() == 0 ? 0 : 1);
    }
}

package fulgur.bench;

import fulgur.backend.cpu.Parallel;
import java.util.LinkedHashMap;
import java.util.Map;
import jdk.incubator.vector.FloatVector;

/** The facts about this machine that every benchmark result carries. */
final class Machine {

    private Machine() {}

    /** {@code extra} followed by threads, vector lanes, processors, JVM version and OS architecture. */
    static Map<String, Object> describe(Map<String, Object> extra) {
        Map<String, Object> m = new LinkedHashMap<>(extra);
        m.putIfAbsent("threads", Parallel.threads());
        m.put("f32_lanes", FloatVector.SPECIES_PREFERRED.length());
        m.put("processors", Runtime.getRuntime().availableProcessors());
        m.put("java", Runtime.version().toString());
        m.put("arch", System.getProperty("os.arch"));
        return m;
    }
}

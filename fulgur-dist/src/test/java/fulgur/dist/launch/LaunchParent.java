package fulgur.dist.launch;

import java.util.List;

/** A launcher process for {@link LauncherKilledTest}: starts two {@link LaunchProbe} ranks that watch it. */
public final class LaunchParent {
    public static void main(String[] args) {
        List<String> rank = Launcher.javaCommand(LaunchProbe.class.getName(), List.of("watch"));
        System.exit(Launcher.run(Launcher.Options.local(2, rank), System.out, System.err));
    }
}

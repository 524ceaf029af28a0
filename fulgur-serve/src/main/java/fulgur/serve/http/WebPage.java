package fulgur.serve.http;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Map;

/** The chat page: static files packaged with the server (no build step, nothing fetched from elsewhere). */
final class WebPage {
    record Resource(String contentType, byte[] bytes) {}

    private static final String ROOT = "/fulgur/serve/http/web/";
    private final Map<String, Resource> files;

    WebPage() {
        files = Map.of(
                "/", load("index.html", "text/html; charset=utf-8"),
                "/chat.js", load("chat.js", "text/javascript; charset=utf-8"),
                "/chat.css", load("chat.css", "text/css; charset=utf-8"));
    }

    Resource get(String path) {
        return files.get(path);
    }

    private static Resource load(String name, String contentType) {
        try (InputStream in = WebPage.class.getResourceAsStream(ROOT + name)) {
            if (in == null) {
                throw new IllegalStateException("missing resource " + ROOT + name);
            }
            return new Resource(contentType, in.readAllBytes());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}

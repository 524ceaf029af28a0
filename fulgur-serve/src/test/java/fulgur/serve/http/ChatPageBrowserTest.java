package fulgur.serve.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import fulgur.serve.Engine;
import fulgur.serve.EngineOptions;
import fulgur.serve.engine.Engines;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * The chat page in a real browser (headless Chromium from the system, driven by its chromedriver; nothing is
 * downloaded): a prompt typed into the page streams the model's answer into it, token by token, and the page shows the
 * rate. Skipped, saying why, where Chromium or chromedriver is not installed.
 */
class ChatPageBrowserTest {
    static final Path CHROMEDRIVER = Path.of("/usr/bin/chromedriver");
    static final Path CHROMIUM = Path.of("/usr/bin/chromium");

    @Test
    void aTypedPromptStreamsTheAnswerIntoThePage(@TempDir Path tmp) throws Exception {
        assumeTrue(
                Files.isExecutable(CHROMEDRIVER) && Files.isExecutable(CHROMIUM),
                "needs Chromium and chromedriver (apt-get install -y chromium chromium-driver); skipping the browser test");
        Path modelDir = TinyModel.create(tmp.resolve("tiny-tnl"), 32, 2);
        try (Engine engine = Engines.load(modelDir, "cpu", EngineOptions.defaults());
                OpenAiServer server = new OpenAiServer(
                                engine,
                                ChatTemplate.forModelDir(modelDir),
                                ServerOptions.defaults().withPort(0))
                        .start()) {
            WebDriver driver = chrome(tmp.resolve("profile"));
            try {
                driver.get(server.uri().toString());
                WebDriverWait wait = new WebDriverWait(driver, Duration.ofSeconds(30));
                wait.until(d -> d.findElement(By.id("model")).getText().startsWith("tiny-tnl"));
                assertThat(driver.findElement(By.id("model")).getText())
                        .contains("tnl")
                        .contains("parameters")
                        .contains("cpu");
                assertThat(driver.findElement(By.id("config")).getAttribute("textContent"))
                        .contains("\"model_type\": \"transnormer\"");
                set(driver, "temperature", "0");
                set(driver, "max-tokens", "60");
                driver.findElement(By.id("prompt")).sendKeys("ROMEO:");
                driver.findElement(By.id("send")).click();

                WebElement bubble = wait.until(d -> d.findElements(By.cssSelector(".message.assistant")).stream()
                        .findFirst()
                        .orElse(null));
                wait.until(d -> "true".equals(bubble.getAttribute("data-done")));
                String shown = bubble.findElement(By.className("content")).getText();
                int chunks = Integer.parseInt(bubble.getAttribute("data-chunks"));

                // the same request through the API: the page shows exactly its text, received as as many events
                Map<String, Object> req = Map.of(
                        "model",
                        "tiny-tnl",
                        "messages",
                        List.of(Map.of("role", "user", "content", "ROMEO:")),
                        "max_tokens",
                        60,
                        "temperature",
                        0,
                        "stream",
                        true);
                List<String> events = new Http(server.uri())
                        .post("/v1/chat/completions", Http.MAPPER.valueToTree(req))
                        .events();
                StringBuilder text = new StringBuilder();
                int contentEvents = 0;
                for (String e : events.subList(0, events.size() - 1)) {
                    JsonNode delta = Http.json(e).at("/choices/0/delta/content");
                    if (!delta.isMissingNode() && !delta.asText().isEmpty()) {
                        text.append(delta.asText());
                        contentEvents++;
                    }
                }
                assertThat(contentEvents).isGreaterThan(1);
                assertThat(chunks).as("streamed pieces the page appended").isEqualTo(contentEvents);
                assertThat(shown).isEqualTo(text.toString().strip());
                assertThat(driver.findElement(By.id("stats")).getText()).matches("\\d+ tokens · [\\d.]+ tok/s");
                assertThat(bubble.findElement(By.className("meta")).getText())
                        .contains("first token")
                        .contains("tok/s");
                assertThat(driver.findElement(By.id("error")).isDisplayed()).isFalse();

                Path shot = Path.of("target", "chat.png");
                Files.createDirectories(shot.getParent());
                Files.copy(
                        ((ChromeDriver) driver).getScreenshotAs(OutputType.FILE).toPath(),
                        shot,
                        StandardCopyOption.REPLACE_EXISTING);
            } finally {
                driver.quit();
            }
        }
    }

    private static void set(WebDriver driver, String id, String value) {
        WebElement e = driver.findElement(By.id(id));
        e.clear();
        e.sendKeys(value);
    }

    /** Chromium from the system with its own chromedriver: no Selenium Manager, no downloads, a fresh profile. */
    static WebDriver chrome(Path profile) {
        ChromeOptions options = new ChromeOptions();
        options.setBinary(CHROMIUM.toFile());
        options.addArguments(
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--window-size=1100,800",
                "--user-data-dir=" + profile.toAbsolutePath());
        ChromeDriverService service = new ChromeDriverService.Builder()
                .usingDriverExecutable(new File(CHROMEDRIVER.toString()))
                .usingAnyFreePort()
                .build();
        return new ChromeDriver(service, options);
    }
}

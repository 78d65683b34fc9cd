package dev.comfyctl.web;

import dev.comfyctl.config.Config;
import dev.comfyctl.daemon.Daemon;
import dev.comfyctl.testing.FakeComfyUi;
import dev.comfyctl.testing.TestConfigs;
import dev.comfyctl.testing.Http;
import dev.comfyctl.testing.Ports;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.Dimension;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;

import java.io.File;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The manager page in headless Chromium (Debian's chromium and chromium-driver, installed by test.sh) against
 * an in-process daemon supervising the fake ComfyUI. Leaves screenshots at phone and desktop width in target/.
 */
class ManagerPageBrowserTest {
    private static final Path CHROMIUM = Path.of("/usr/bin/chromium");
    private static final Path CHROMEDRIVER = Path.of("/usr/bin/chromedriver");
    private static final Duration PATIENCE = Duration.ofSeconds(30);
    private static final Dimension PHONE = new Dimension(390, 844);
    private static final Dimension DESKTOP = new Dimension(1280, 860);

    @TempDir
    static Path browserHome;
    @TempDir
    Path temp;

    private static ChromeDriver browser;
    private FakeComfyUi fake;
    private Config config;
    private Daemon daemon;

    @BeforeAll
    static void openBrowser() {
        assertThat(Files.isExecutable(CHROMIUM) && Files.isExecutable(CHROMEDRIVER))
                .as("needs Debian's chromium and chromium-driver: run ./test.sh, which installs them").isTrue();
        ChromeOptions options = new ChromeOptions().setBinary(CHROMIUM.toFile()).addArguments("--headless=new", "--no-sandbox",
                "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--user-data-dir=" + browserHome.resolve("profile"));
        ChromeDriverService service = new ChromeDriverService.Builder().usingDriverExecutable(CHROMEDRIVER.toFile())
                .usingAnyFreePort().build();
        browser = new ChromeDriver(service, options);
    }

    @AfterAll
    static void closeBrowser() {
        if (browser != null) {
            browser.quit();
        }
    }

    @BeforeEach
    void startDaemon() {
        fake = FakeComfyUi.install(temp.resolve("ComfyUI"));
        config = TestConfigs.forFake(fake, temp.resolve("state"), "COMFYUI_RESTART_ON_CRASH", "false");
        daemon = Daemon.start(config, false);
        browser.manage().window().setSize(DESKTOP);
    }

    @AfterEach
    void closeDaemon() {
        daemon.close();
    }

    @Test
    void pressingStartShowsTheStateReachReadyLiveWithTheLogTail() throws Exception {
        open();
        await().atMost(PATIENCE).until(() -> text("state").equals("STOPPED") && enabled("start"));
        assertThat(enabled("stop")).isFalse();
        assertThat(text("idle")).isEqualTo("after 5 min 00 s idle");
        assertThat(text("gpus")).contains("NVIDIA GeForce RTX 4090", "/ 24.0 GiB VRAM");
        // A reload would drop this marker: the page must update in place.
        browser.executeScript("window.notReloaded = true");

        browser.findElement(By.id("start")).click();

        await().atMost(PATIENCE).until(() -> text("state").equals("READY"));
        await().atMost(PATIENCE).until(() -> text("log").contains("To see the GUI go to"));
        await().atMost(PATIENCE).until(() -> enabled("stop") && enabled("restart") && !enabled("start"));
        assertThat(browser.executeScript("return window.notReloaded === true")).isEqualTo(true);
        assertThat(text("events")).contains("STOPPED → STARTING", "STARTING → READY");
        assertThat(text("queue")).isEqualTo("0 running, 0 pending");
        await().atMost(PATIENCE).until(() -> text("idle").startsWith("stops in "));
        assertThat(text("conn")).isEqualTo("live");
        screenshot("manager-desktop.png");
        browser.manage().window().setSize(PHONE);
        screenshot("manager-phone.png");
    }

    @Test
    void openComfyUiLoadsItsOwnPageThroughTheProxyWithItsWebSocketConnected() {
        open();
        await().atMost(PATIENCE).until(() -> enabled("start"));
        browser.findElement(By.id("start")).click();
        await().atMost(PATIENCE).until(() -> text("state").equals("READY"));

        browser.findElement(By.cssSelector("a.open")).click();

        await().atMost(PATIENCE).until(() -> browser.getCurrentUrl().equals(daemon.info().baseUrl() + "/")
                && text("ws-state").equals("connected") && text("ws-last").equals("status"));
    }

    @Test
    void aFailedStartShowsItsErrorAndTheLogTail() throws Exception {
        fake.behave(Map.of("exit_at_startup", 3));
        browser.manage().window().setSize(PHONE);
        open();
        await().atMost(PATIENCE).until(() -> enabled("start"));

        browser.findElement(By.id("start")).click();

        await().atMost(PATIENCE).until(() -> browser.findElement(By.id("error")).isDisplayed()
                && text("error-message").startsWith("Start failed"));
        assertThat(text("error-message")).contains("exited with code 3");
        assertThat(text("error-log")).contains("RuntimeError: simulated start-up failure");
        assertThat(text("state")).isEqualTo("FAILED");
        screenshot("manager-phone-failed.png");
    }

    @Test
    void thePageReconnectsByItselfWhenTheStreamDrops() {
        open();
        await().atMost(PATIENCE).until(() -> text("conn").equals("live") && text("state").equals("STOPPED"));
        browser.executeScript("window.notReloaded = true");

        daemon.close();
        daemon = Daemon.start(config, false);
        Http.postJson(URI.create(daemon.info().baseUrl() + "/manager/start"), "{}");

        await().atMost(PATIENCE).until(() -> text("state").equals("READY") && text("conn").equals("live"));
        assertThat(browser.executeScript("return window.notReloaded === true")).isEqualTo(true);
    }

    @Test
    void withSeveralInstancesThePageShowsEachOneWithItsState() {
        daemon.close();
        fake.behave(Map.of("devices", FakeComfyUi.gpus(2)));
        config = TestConfigs.forFake(fake, temp.resolve("state-multi"), "WORKERS", "comfyui:auto", "GPU_MOCK_COUNT", "2",
                "COMFYUI_PORT", Integer.toString(Ports.freeRun(2)));
        daemon = Daemon.start(config, false);
        daemon.instances().get(1).start(event -> { }).join();

        open();

        await().atMost(PATIENCE).untilAsserted(() -> {
            List<WebElement> rows = browser.findElements(By.cssSelector("#instances li"));
            assertThat(rows).extracting(WebElement::getText).satisfiesExactly(
                    gpu0 -> assertThat(gpu0).contains("comfyui-gpu0", "STOPPED", "port " + config.comfyPort(), "GPU 0"),
                    gpu1 -> assertThat(gpu1).contains("comfyui-gpu1", "READY", "pid ", "port " + (config.comfyPort() + 1), "GPU 1"));
        });
    }

    private void open() {
        browser.get(daemon.info().baseUrl() + "/manager");
    }

    private String text(String id) {
        return browser.findElement(By.id(id)).getText();
    }

    private boolean enabled(String id) {
        WebElement button = browser.findElement(By.id(id));
        return button.isEnabled();
    }

    private void screenshot(String name) throws Exception {
        // Let the layout settle after a resize before the picture is taken.
        browser.executeScript("return new Promise(resolve => requestAnimationFrame(() => requestAnimationFrame(resolve)))");
        File shot = browser.getScreenshotAs(OutputType.FILE);
        Files.copy(shot.toPath(), Path.of("target", name), StandardCopyOption.REPLACE_EXISTING);
    }
}

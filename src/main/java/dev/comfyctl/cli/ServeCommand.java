package dev.comfyctl.cli;

import dev.comfyctl.telemetry.LogSetup;
import dev.comfyctl.config.Config;
import dev.comfyctl.daemon.Daemon;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.concurrent.Callable;

@Command(name = "serve", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        description = {"Runs the comfyctl daemon in the foreground (what systemd and containers run).",
                "SIGTERM or SIGINT stops ComfyUI, then the daemon."})
final class ServeCommand implements Callable<Integer> {
    @Mixin
    private ConfigOptions options;

    @Option(names = "--background", hidden = true, description = "set by 'comfyctl start': 'comfyctl stop' ends this daemon too")
    private boolean background;

    @Override
    public Integer call() throws InterruptedException {
        if (options.environment().get(LogSetup.LEVEL_PROPERTY) == null) {
            System.setProperty(LogSetup.LEVEL_PROPERTY, "INFO");
        }
        Config config = options.load();
        Daemon daemon = Daemon.start(config, background);
        Runtime.getRuntime().addShutdownHook(new Thread(daemon::close, "comfyctl-shutdown"));
        daemon.finishStartup();
        daemon.awaitClosed();
        return ExitCode.OK;
    }
}

package dev.comfyctl.cli;

import dev.comfyctl.config.Config;
import dev.comfyctl.install.Components;
import dev.comfyctl.install.DiscoveryClient;
import dev.comfyctl.install.InstallReport;
import dev.comfyctl.install.Manifest;
import dev.comfyctl.install.ManifestException;
import dev.comfyctl.install.ManifestSource;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "install", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        description = {"Installs the custom nodes and models of a component manifest (COMPONENT_MANIFEST or --manifest),",
                "or of the discovery API (EMPROPS_API_URL or --api, with COMPONENTS/--workflows and COLLECTIONS/--collections).",
                "What is already there is skipped; exits 1 when anything failed."})
final class InstallCommand implements Callable<Integer> {
    @Mixin
    private ConfigOptions options;

    @Spec
    private CommandSpec spec;

    @ArgGroup(exclusive = true)
    private Source source;

    static final class Source {
        @Option(names = "--manifest", paramLabel = "FILE", description = "JSON or YAML manifest (COMPONENT_MANIFEST)")
        Path manifest;

        @ArgGroup(exclusive = false)
        Api api;
    }

    static final class Api {
        @Option(names = "--api", paramLabel = "URL", required = true, description = "discovery API base URL (EMPROPS_API_URL)")
        String url;

        @Option(names = "--workflows", paramLabel = "NAME", split = ",", description = "workflows whose dependencies to add (COMPONENTS)")
        List<String> workflows = List.of();

        @Option(names = "--collections", paramLabel = "ID", split = ",", description = "collections whose dependencies to add (COLLECTIONS)")
        List<String> collections = List.of();
    }

    @Option(names = "--dry-run", description = "print what would be installed, change nothing")
    private boolean dryRun;

    @Override
    public Integer call() {
        Config config = options.load();
        PrintWriter out = spec.commandLine().getOut();
        ManifestSource manifestSource = chosenSource(config);
        new StepPrinter(out).banner((dryRun ? "install (dry run) · " : "install · ") + config.comfyDir());
        try (InstallPrinter printer = new InstallPrinter(out, System.console() != null && !dryRun)) {
            Manifest manifest = manifestSource.load(printer);
            InstallReport report = Components.installer(config, dryRun, printer, options.environment()).install(manifest);
            if (!report.succeeded()) {
                throw new ExitException(ExitCode.FAILED, report.summary() + String.join("", report.failures().stream()
                        .map(failure -> "\n  " + failure.kind() + " " + failure.name() + ": " + failure.error()).toList()));
            }
            out.println(report.summary());
            return ExitCode.OK;
        } catch (ManifestException e) {
            throw new ExitException(ExitCode.INVALID_INPUT, e.getMessage());
        } catch (DiscoveryClient.DiscoveryException e) {
            throw new ExitException(ExitCode.FAILED, e.getMessage());
        }
    }

    private ManifestSource chosenSource(Config config) {
        if (source != null && source.manifest != null) {
            return new ManifestSource.File(source.manifest.toAbsolutePath());
        }
        if (source != null && source.api != null) {
            return Components.api(config, source.api.url, source.api.workflows, source.api.collections);
        }
        return Components.configuredSource(config).orElseThrow(() -> new ExitException(ExitCode.INVALID_INPUT,
                "nothing to install: give --manifest FILE or --api URL, or set COMPONENT_MANIFEST or EMPROPS_API_URL"
                        + " (comfyctl config --describe)"));
    }
}

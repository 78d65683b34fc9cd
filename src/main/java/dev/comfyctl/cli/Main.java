package dev.comfyctl.cli;

import dev.comfyctl.telemetry.LogSetup;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.util.Map;

/** Entry point: builds the command line, runs it, exits with its code. */
public final class Main {
    private Main() {
    }

    public static void main(String[] args) {
        // The daemon logs at INFO, a command only its warnings.
        if (System.getenv(LogSetup.LEVEL_PROPERTY) == null) {
            System.setProperty(LogSetup.LEVEL_PROPERTY, "WARN");
        }
        System.exit(run(args, System.getenv(), new PrintWriter(System.out, true), new PrintWriter(System.err, true)));
    }

    static int run(String[] args, Map<String, String> environment, PrintWriter out, PrintWriter err) {
        CommandLine commandLine = ComfyctlCommand.commandLine(environment, args);
        commandLine.setOut(out);
        commandLine.setErr(err);
        commandLine.setExecutionExceptionHandler(new ErrorHandler());
        commandLine.setParameterExceptionHandler(ErrorHandler::invalidInput);
        int code = commandLine.execute(args);
        out.flush();
        err.flush();
        return code;
    }
}

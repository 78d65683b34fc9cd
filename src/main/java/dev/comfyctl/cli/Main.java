package dev.comfyctl.cli;

import picocli.CommandLine;

import java.io.PrintWriter;
import java.util.Map;

/** Entry point: builds the command line, runs it, exits with its code. */
public final class Main {
    private Main() {
    }

    /** Read by logback.xml; the daemon logs at INFO, a command only its warnings. */
    static final String LOG_LEVEL = "COMFYCTL_LOG_LEVEL";

    public static void main(String[] args) {
        if (System.getenv(LOG_LEVEL) == null) {
            System.setProperty(LOG_LEVEL, "WARN");
        }
        System.exit(run(args, System.getenv(), new PrintWriter(System.out, true), new PrintWriter(System.err, true)));
    }

    static int run(String[] args, Map<String, String> environment, PrintWriter out, PrintWriter err) {
        CommandLine commandLine = new CommandLine(new ComfyctlCommand(environment));
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

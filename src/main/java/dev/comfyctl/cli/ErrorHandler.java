package dev.comfyctl.cli;

import dev.comfyctl.config.ConfigException;
import dev.comfyctl.daemon.DaemonException;
import picocli.CommandLine;
import picocli.CommandLine.IExecutionExceptionHandler;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;

import java.io.PrintWriter;

/** One place that turns failures into "comfyctl: error: ..." and an exit code; stack traces only with --verbose. */
final class ErrorHandler implements IExecutionExceptionHandler {

    @Override
    public int handleExecutionException(Exception e, CommandLine commandLine, ParseResult parseResult) {
        PrintWriter err = commandLine.getErr();
        int code;
        if (e instanceof ExitException exit) {
            code = exit.code();
        } else if (e instanceof ConfigException) {
            code = ExitCode.INVALID_INPUT;
        } else if (e instanceof DaemonException) {
            code = ExitCode.FAILED;
        } else {
            code = ExitCode.INTERNAL_ERROR;
        }
        if (e.getMessage() != null && !e.getMessage().isEmpty()) {
            err.println("comfyctl: error: " + e.getMessage());
        }
        if (code == ExitCode.INTERNAL_ERROR || verbose(parseResult)) {
            e.printStackTrace(err);
        }
        err.flush();
        return code;
    }

    static int invalidInput(ParameterException e, String[] args) {
        PrintWriter err = e.getCommandLine().getErr();
        err.println("comfyctl: error: " + e.getMessage());
        err.println("Run '" + e.getCommandLine().getCommandSpec().qualifiedName() + " --help' for usage.");
        return ExitCode.INVALID_INPUT;
    }

    private static boolean verbose(ParseResult parseResult) {
        for (ParseResult result = parseResult; result != null; result = result.subcommand()) {
            if (result.hasMatchedOption("--verbose")) {
                return true;
            }
        }
        return false;
    }
}

package dev.comfyctl.cli;

import dev.comfyctl.config.Config;
import dev.comfyctl.daemon.DaemonException;
import dev.comfyctl.daemon.DaemonInfo;
import dev.comfyctl.daemon.JobClient;

import java.io.IOException;

/** What the job commands share: the daemon's job client, and turning a failed call into an exit. */
final class JobCommands {
    private JobCommands() {
    }

    static JobClient client(ConfigOptions options) {
        Config config = options.load();
        DaemonInfo daemon = DaemonInfo.read(config.home()).orElseThrow(() -> new ExitException(ExitCode.NOT_RUNNING,
                "the comfyctl daemon is not running for " + config.home() + "; start it with 'comfyctl start' or 'comfyctl serve'"));
        return new JobClient(daemon, config.managerToken());
    }

    /** The answer when it is a success; otherwise an exit: 2 when the daemon found the input invalid, else 1. */
    static JobClient.Answer expectOk(JobClient.Answer answer) {
        if (!answer.ok()) {
            throw new ExitException(answer.status() == 400 || answer.status() == 404 ? ExitCode.INVALID_INPUT : ExitCode.FAILED,
                    answer.error());
        }
        return answer;
    }

    static DaemonException unreachable(JobClient client, IOException e) {
        return new DaemonException("cannot reach the comfyctl daemon at " + client.baseUrl() + ": " + e.getMessage()
                + "; check it with 'comfyctl status' and 'comfyctl logs --daemon'", e);
    }
}
